// What `egress-mtls serve` logs (issue 15): level names and ISO times, as JSON lines or as
// text (--log-format); the version in the first line; denials and warnings at info with the
// review's uid, kind, namespace, name, the reason and the messages' codes, never the object
// or key material.
// serve runs in this process (main() as the CLI calls it) and is stopped by SIGTERM.
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import { main } from '../../src/cli/main.ts'
import type { AdmissionRequest } from '../../src/core/admission/admission-review.ts'
import { admit } from '../../src/core/admission/admit.ts'
import { VERSION } from '../../src/version.ts'
import { parsedConfig } from '../support/config.ts'
import { type PodFiles, serveFiles } from '../support/serve-files.ts'
import { deploymentReview, EXAMPLE_CONFIG, post } from '../support/webhook.ts'

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

let pki: PodFiles
before(async () => { pki = await serveFiles() })

interface Serve {
  readonly port: number
  readonly output: () => string
  /** SIGTERM; resolves to serve's exit code. */
  stop: () => Promise<number>
}

async function serve (args: readonly string[], port: (output: string) => number | undefined): Promise<Serve> {
  const stdout = new PassThrough()
  let output = ''
  stdout.setEncoding('utf8').on('data', (c: string) => { output += c })
  const stderr = new PassThrough()
  const running = main(['serve', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', ...pki.args, ...args], { stdin: new PassThrough(), stdout, stderr, env: {} })
  for (let i = 0; i < 500; i++) {
    const p = port(output)
    if (p !== undefined) {
      return {
        port: p,
        output: () => output,
        stop: async () => { process.kill(process.pid, 'SIGTERM'); return running },
      }
    }
    await sleep(10)
  }
  throw new Error(`serve did not listen:\n${output}\n${String(stderr.read())}`)
}

const jsonLines = (output: string): Record<string, unknown>[] =>
  output.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)

/** A review admit() denies: a userVolume annotation that is not JSON. */
function deniedReview (uid: string): ReturnType<typeof deploymentReview> {
  const review = deploymentReview(uid)
  const object = review.request['object'] as { spec: { template: { metadata: { annotations?: Record<string, string> } } } }
  object.spec.template.metadata.annotations = { 'sidecar.istio.io/userVolume': 'not json' }
  return review
}

const decided = (review: ReturnType<typeof deploymentReview>) =>
  admit(review.request as unknown as AdmissionRequest, parsedConfig(EXAMPLE_CONFIG)).response

describe('serve logs', () => {
  test('JSON lines with level names and ISO times; the first names the version; denials and warnings at info', async () => {
    const s = await serve(['--log-level', 'info'], (out) => {
      const line = jsonLines(out).find((e) => e['msg'] === 'listening')
      return typeof line?.['https'] === 'number' ? line['https'] : undefined
    })
    try {
      const denied = deniedReview('denied-uid')
      const warned = deploymentReview('warned-uid', 'elsewhere') // opted in, but no target in that namespace
      const plain = deploymentReview('plain-uid')
      assert.equal(decided(denied).allowed, false)
      assert.ok((decided(warned).warnings ?? []).length > 0)
      for (const review of [denied, warned, plain]) {
        assert.equal((await post(s.port, JSON.stringify(review), { ca: pki.ca.cert })).status, 200)
      }
      // Log lines are written as the answers are sent.
      await sleep(50)
    } finally {
      assert.equal(await s.stop(), 0)
    }
    const lines = jsonLines(s.output())
    assert.deepEqual({ level: lines[0]?.['level'], msg: lines[0]?.['msg'], version: lines[0]?.['version'] }, { level: 'info', msg: 'egress-mtls serve starting', version: VERSION })
    for (const line of lines) {
      assert.match(String(line['time']), ISO_TIME)
      assert.ok(['info', 'warn', 'error'].includes(String(line['level'])), JSON.stringify(line))
    }
    const byUid = (uid: string): Record<string, unknown> | undefined => lines.find((l) => l['uid'] === uid)
    assert.deepEqual(pick(byUid('denied-uid')), {
      level: 'info', msg: 'review denied', uid: 'denied-uid', kind: 'Deployment', namespace: 'payments', name: 'shop', reason: decided(deniedReview('x')).status?.message,
      codes: ['EMTLS_USER_VOLUME_UNREADABLE'],
    })
    assert.deepEqual(pick(byUid('warned-uid')), {
      level: 'info', msg: 'review allowed with warnings', uid: 'warned-uid', kind: 'Deployment', namespace: 'elsewhere', name: 'shop', warnings: decided(deploymentReview('y', 'elsewhere')).warnings,
      codes: ['EMTLS_NO_TARGET_AVAILABLE'],
    })
    assert.equal(byUid('plain-uid'), undefined, 'a review with nothing to say is logged at debug only')
    const text = s.output()
    assert.doesNotMatch(text, /registry\.example|containers|"object"|PRIVATE KEY/)
    assert.ok(!text.includes(pki.leaf.key.split('\n')[1] ?? 'none'), 'no key material')
  })

  test('no review writes a long line: a uid that cannot be a UID is refused with 400 unlogged; a 2 MB name is cut', async () => {
    const s = await serve(['--log-level', 'debug'], (out) => {
      const line = jsonLines(out).find((e) => e['msg'] === 'listening')
      return typeof line?.['https'] === 'number' ? line['https'] : undefined
    })
    let refused
    try {
      const hugeUid = deniedReview('u'.repeat(3_000_000))
      refused = await post(s.port, JSON.stringify(hugeUid), { ca: pki.ca.cert })
      const named = deniedReview('named-uid')
      named.request['name'] = 'n'.repeat(2_000_000)
      named.request['namespace'] = 's'.repeat(300)
      assert.equal((await post(s.port, JSON.stringify(named), { ca: pki.ca.cert })).status, 200)
      await sleep(50)
    } finally {
      assert.equal(await s.stop(), 0)
    }
    assert.equal(refused.status, 400)
    assert.match(refused.body, /request\.uid is not a UID: 1 to 128 printable ASCII characters without spaces/)
    const longest = Math.max(...s.output().split('\n').map((l) => l.length))
    assert.ok(longest < 4096, `the longest line has ${longest} characters`)
    const line = jsonLines(s.output()).find((l) => l['uid'] === 'named-uid')
    assert.equal(line?.['name'], `${'n'.repeat(253)}... (2000000 characters)`)
    assert.equal(line['namespace'], `${'s'.repeat(253)}... (300 characters)`)
  })

  test('--log-format text: TIME LEVEL message key=value', async () => {
    const s = await serve(['--log-format', 'text'], (out) => {
      const m = /^\S+ INFO {2}listening https=(\d+) /m.exec(out)
      return m === null ? undefined : Number(m[1])
    })
    assert.equal(await s.stop(), 0)
    const lines = s.output().trimEnd().split('\n')
    assert.match(lines[0] ?? '', new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z INFO {2}egress-mtls serve starting version=${VERSION.replaceAll('.', '\\.')} node=v\\d+`))
    assert.ok(lines.some((l) => / INFO {2}configuration|certificate loaded notAfter=\S+ sha256=/.test(l)), lines.join('\n'))
    for (const line of lines) assert.match(line, /^\S+Z (INFO |WARN |ERROR) \S/)
    assert.doesNotMatch(s.output(), /^\{/m, 'no JSON lines')
  })

  test('a bad --log-format, --max-connections or --max-connections-per-source is a usage error (exit 2)', async () => {
    for (const args of [['--log-format', 'yaml'], ['--max-connections', '0'], ['--max-connections', '1.5'], ['--max-connections-per-source', '0']]) {
      const stderr = new PassThrough()
      let text = ''
      stderr.setEncoding('utf8').on('data', (c: string) => { text += c })
      const code = await main(['serve', '--self-signed', ...pki.args.slice(-2), ...args], { stdin: new PassThrough(), stdout: new PassThrough(), stderr, env: {} })
      assert.equal(code, 2, args.join(' '))
      assert.match(text, new RegExp(args[0]!), text)
    }
  })
})

function pick (line: Record<string, unknown> | undefined): Record<string, unknown> {
  if (line === undefined) return {}
  const { time: _t, pid: _p, hostname: _h, operation: _o, result: _r, ms: _m, ...rest } = line
  return rest
}
