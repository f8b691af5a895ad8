// The command line as kubectl users expect it, through the real CLI process: --version and
// `version`, examples in every command's help, shell completion, and every user error as
// one line with exit 2 (bad numbers and choices, a missing or broken kubeconfig, an unknown
// context, an API server that cannot be reached, no manifests on a terminal).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { test } from 'node:test'

import { main } from '../../src/cli/main.ts'
import { VERSION } from '../../src/version.ts'
import { cliProcess, type CliRun } from '../support/cli-process.ts'

const dir = mkdtempSync(join(tmpdir(), 'egress-mtls-usage-'))
const config = join(dir, 'config.yaml')
writeFileSync(config, 'targets:\n  - name: bank-api\n    host: api.bank.example.com\n    namespaces: [payments]\n')

const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> => cliProcess(args, { env: { HOME: dir, ...env } })

/** Exit 2 and exactly one line on stderr, matching `pattern`. */
function oneLine (r: CliRun, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /^egress-mtls: [^\n]+\n$/, r.stderr)
  assert.match(r.stderr, pattern)
}

function kubeconfig (server: string, namespace?: string): string {
  const file = join(dir, `kc-${Math.random().toString(36).slice(2)}`)
  writeFileSync(file, `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "${server}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: dev, context: { cluster: c, user: u${namespace === undefined ? '' : `, namespace: ${namespace}`} } }]
current-context: dev
`)
  return file
}

test('--version and `version` print package.json\'s version', async () => {
  const short = await cli(['--version'])
  assert.equal(short.code, 0)
  assert.equal(short.stdout, `${VERSION}\n`)
  const long = await cli(['version'])
  assert.equal(long.stdout, `egress-mtls ${VERSION} (node ${process.version})\n`)
  assert.deepEqual(JSON.parse((await cli(['version', '-o', 'json'])).stdout), { version: VERSION, node: process.version })
})

test('every command\'s help has examples, and defaults as people write them', async () => {
  for (const c of ['serve', 'monitor', 'inject', 'render', 'provision', 'certs', 'doctor', 'version', 'completion']) {
    const r = await cli([c, '--help'])
    assert.equal(r.code, 0, c)
    assert.match(r.stdout, new RegExp(`Examples:\\n  egress-mtls ${c}|Examples:\\n  source <\\(egress-mtls completion`), c)
    assert.doesNotMatch(r.stdout, /default: \d+\.\d{4,}/, `${c}: a default printed as a long decimal`)
  }
  assert.match((await cli(['certs', '--help'])).stdout, /\(default: 1\/3\)/)
})

test('bad numbers, bad choices, unknown commands: one line, exit 2', async () => {
  oneLine(await cli(['provision', '--config', config, '--timeout', 'soon']), /--timeout <seconds>' argument 'soon' is invalid\. must be a positive number of seconds/)
  oneLine(await cli(['provision', '--config', config, '--timeout', '-1']), /must be a positive number of seconds/)
  oneLine(await cli(['certs', '--service', 's', '--secret', 's', '--webhook', 'w', '--ca-validity-days', '1.5']), /must be a positive whole number of days/)
  oneLine(await cli(['certs', '--service', 's', '--secret', 's', '--webhook', 'w', '--renew-fraction', '2']), /must be a number between 0 and 1/)
  for (const bad of ['5', '5x', '-1s', '11m', '']) {
    oneLine(await cli(['serve', '--config', config, '--self-signed', '--shutdown-delay', bad]), /--shutdown-delay <duration>' argument .* is invalid\. must be a duration such as 5s or 500ms, at most 10m/)
  }
  oneLine(await cli(['render', '--config', config, '-o', 'xml']), /argument 'xml' is invalid\. Allowed choices are yaml, json/)
  oneLine(await cli(['completion', 'fish']), /value 'fish' is invalid for argument 'shell'\. Allowed choices are bash, zsh/)
  oneLine(await cli(['rendr']), /unknown command 'rendr' \(did you mean render\?\)/)
  oneLine(await cli(['monitor', '--config', config, '--metrics-listen', '9090']), /--metrics-listen "9090": must be \[HOST\]:PORT/)
  oneLine(await cli(['monitor']), /no configuration: pass --config FILE or set EGRESS_MTLS_CONFIG/)
})

test('kubeconfig: missing, broken, unknown context, none at all: one line naming it, exit 2', async () => {
  const broken = join(dir, 'broken')
  writeFileSync(broken, 'clusters: [ { name: a\n')
  oneLine(await cli(['doctor', '--config', config, '--kubeconfig', join(dir, 'absent')]), new RegExp(`kubeconfig ${dir}/absent: cannot read: no such file or directory`))
  oneLine(await cli(['doctor', '--config', config, '--kubeconfig', broken]), new RegExp(`kubeconfig ${broken}: not a valid kubeconfig: `))
  oneLine(await cli(['doctor', '--config', config, '--kubeconfig', kubeconfig('https://127.0.0.1:1'), '--context', 'prod']), /no context "prod" \(contexts: dev\)/)
  oneLine(await cli(['provision', '--config', config]), /no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or create ~\/\.kube\/config/)
  oneLine(await cli(['monitor', '--config', config]), /no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or create ~\/\.kube\/config/)
  oneLine(await cli(['provision', '--config', config], { KUBECONFIG: join(dir, 'absent') }), /kubeconfig \$KUBECONFIG \(.*absent\): cannot read: no such file or directory/)
})

test('certs without -n takes the context\'s namespace, and says so when there is none', async () => {
  oneLine(await cli(['certs', '--kubeconfig', kubeconfig('https://127.0.0.1:1'), '--service', 's', '--secret', 's', '--webhook', 'w']), /certs: no namespace: pass -n NAMESPACE/)
  // with one in the context, it gets as far as the (unreachable) server
  oneLine(await cli(['certs', '--kubeconfig', kubeconfig('https://127.0.0.1:9', 'payments'), '--service', 's', '--secret', 's', '--webhook', 'w']), /cannot reach the API server https:\/\/127\.0\.0\.1:9 \(context dev\)/)
})

test('an API server that refuses, or accepts and never answers: one line naming it, at --timeout', async () => {
  const refused = createServer()
  await new Promise<void>((resolve) => refused.listen(0, '127.0.0.1', resolve))
  const refusedPort = (refused.address() as { port: number }).port
  await new Promise<void>((resolve) => refused.close(() => { resolve() }))
  oneLine(await cli(['doctor', '--config', config, '--kubeconfig', kubeconfig(`https://127.0.0.1:${refusedPort}`)]),
    new RegExp(`cannot reach the API server https://127\\.0\\.0\\.1:${refusedPort} \\(context dev\\): .*ECONNREFUSED`))

  const silent = createServer(() => undefined) // accepts, never completes the TLS handshake
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  const port = (silent.address() as { port: number }).port
  try {
    oneLine(await cli(['doctor', '--config', config, '--kubeconfig', kubeconfig(`https://127.0.0.1:${port}`), '--timeout', '1']),
      new RegExp(`cannot reach the API server https://127\\.0\\.0\\.1:${port} \\(context dev\\): no answer from the API server before the deadline`))
  } finally {
    silent.close()
  }
})

test('inject with no -f on a terminal: one line with a hint, not a silent wait', async () => {
  const stdin = Object.assign(Readable.from([]), { isTTY: true })
  const stderr = new PassThrough()
  let err = ''
  stderr.setEncoding('utf8').on('data', (s: string) => { err += s })
  const code = await main(['inject', '--config', config], { stdin, stdout: new PassThrough(), stderr, env: {} })
  assert.equal(code, 2)
  assert.equal(err, 'egress-mtls: inject: no manifests given: pass -f FILE, -f DIRECTORY or -f - (stdin), e.g. egress-mtls inject -f deployment.yaml\n')
})

test('completion bash: commands, options per command, choices, in a real bash', async () => {
  const script = (await cli(['completion', 'bash'])).stdout
  writeFileSync(join(dir, 'completion.bash'), script)
  const complete = (...words: string[]): string => spawnSync('bash', ['-c', `source ${join(dir, 'completion.bash')}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _egress_mtls; echo "\${COMPREPLY[*]}"`], { encoding: 'utf8' }).stdout.trim()
  assert.equal(complete('egress-mtls', 'in'), 'inject')
  assert.match(complete('egress-mtls', '--config', 'c.yaml', 'inject', '-'), /(^| )-f .*--recursive .*--output/)
  assert.equal(complete('egress-mtls', 'render', '-o', ''), 'yaml json')
  assert.equal(complete('egress-mtls', 'completion', ''), 'bash zsh --config --kubeconfig --context --release --release-namespace --help')
  const zsh = (await cli(['completion', 'zsh'])).stdout
  assert.match(zsh, /^#compdef egress-mtls\nautoload -U \+X bashcompinit && bashcompinit\n/)
})
