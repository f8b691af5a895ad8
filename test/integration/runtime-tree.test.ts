// The runtime tree of the image, assembled without a container engine
// (scripts/build-runtime.sh): the compiled program runs from it with production
// dependencies only, outside the repository, on Node 24.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import { parseAllDocuments } from 'yaml'

import { repoRoot as repo } from '../support/repo.ts'
import { type Run, run as runCommand } from '../support/run.ts'

const node24 = join(repo, 'node_modules', '.bin', 'node')
const exampleConfig = join(repo, 'examples', 'config.yaml')

/** Without NODE_PATH and NODE_OPTIONS: the tree must stand on its own. */
const env = { ...process.env }
delete env['NODE_PATH']
delete env['NODE_OPTIONS']
const run = (cmd: string, args: readonly string[], cwd: string, timeoutMs = 60_000): Promise<Run> =>
  runCommand(cmd, args, { cwd, env, timeoutMs })

let work = ''
let tree = ''
const cli = (...args: string[]): Promise<Run> => run(node24, [join(tree, 'bin', 'egress-mtls.js'), ...args], work)

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'egress-mtls-runtime-'))
  tree = join(work, 'app')
  const t0 = Date.now()
  const built = await run('bash', [join(repo, 'scripts', 'build-runtime.sh'), tree], repo, 540_000)
  assert.equal(built.code, 0, `scripts/build-runtime.sh failed:\n${built.stderr}`)
  process.stderr.write(`[runtime-tree] assembled in ${Date.now() - t0} ms\n`)
}, { timeout: 600_000 })

after(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true })
})

test('the tree holds dist/, bin/, package.json and exactly the production packages of the lockfile', () => {
  for (const f of ['dist/cli/main.js', 'bin/egress-mtls.js', 'package.json']) assert.ok(existsSync(join(tree, f)), f)
  assert.ok(!existsSync(join(tree, 'src')), 'no TypeScript sources')
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean, optional?: boolean }> }
  let production = 0
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || !path.startsWith('node_modules/')) continue
    if (entry.dev === true) assert.ok(!existsSync(join(tree, path)), `dev dependency ${path} is in the runtime tree`)
    else if (entry.optional !== true) { production++; assert.ok(existsSync(join(tree, path)), `production dependency ${path} is missing`) }
  }
  assert.ok(production > 10, String(production))
  for (const dev of ['typescript', 'eslint', 'node', 'fast-check', 'autocannon']) assert.ok(!existsSync(join(tree, 'node_modules', dev)), dev)
})

test('the CLI runs from the tree: --help lists every command', async () => {
  const r = await cli('--help')
  assert.equal(r.code, 0, r.stderr)
  for (const command of ['serve', 'inject', 'render', 'provision', 'certs', 'doctor']) assert.match(r.stdout, new RegExp(`^  ${command} `, 'm'))
})

test('render from the tree prints the same resources as the source tree does', async () => {
  const [fromTree, fromSource] = await Promise.all([
    cli('render', '--config', exampleConfig),
    run(node24, [join(repo, 'src', 'cli', 'main.ts'), 'render', '--config', exampleConfig], repo),
  ])
  assert.equal(fromTree.code, 0, fromTree.stderr)
  assert.equal(fromSource.code, 0, fromSource.stderr)
  assert.equal(fromTree.stdout, fromSource.stdout)
  const kinds = parseAllDocuments(fromTree.stdout).map((d) => (d.toJS() as { kind: string }).kind)
  assert.ok(kinds.includes('ServiceEntry') && kinds.includes('DestinationRule'), kinds.join(','))
})

test('a bad configuration exits 2 naming the field, from the tree too', async () => {
  const bad = join(work, 'bad.yaml')
  await writeFile(bad, 'targets:\n  - name: bank-api\n    hots: api.bank.example.com\n    namespaces: [payments]\n')
  const r = await cli('render', '--config', bad)
  assert.equal(r.code, 2)
  assert.match(r.stderr, /targets\[0\]\.hots: unknown field/)
})

async function freePort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const addr = srv.address()
  await new Promise<void>((resolve) => srv.close(() => { resolve() }))
  assert.ok(addr !== null && typeof addr === 'object')
  return addr.port
}

test('serve starts from the tree (Fastify, pino, prom-client, selfsigned) and stops on SIGTERM', async () => {
  const [https, metrics] = [await freePort(), await freePort()]
  const child = spawn(node24, [join(tree, 'bin', 'egress-mtls.js'), 'serve', '--self-signed', '--config', exampleConfig,
    '--listen', `127.0.0.1:${https}`, '--metrics-listen', `127.0.0.1:${metrics}`], { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  try {
    let status = 0
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await fetch(`http://127.0.0.1:${metrics}/readyz`).then((r) => r.status, () => 0)
      if (status !== 200) await sleep(100)
    }
    assert.equal(status, 200, `no /readyz: ${stderr}`)
    const body = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text()
    assert.match(body, /egress_mtls_admission_requests_total/)
  } finally {
    child.kill('SIGTERM')
  }
  assert.equal(await exited, 0, stderr)
})
