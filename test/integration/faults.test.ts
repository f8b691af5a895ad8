// Faults under load, against the real `egress-mtls serve` (CLI, TLS, keep-alive):
// the serving certificate replaced the way kubelet updates a Secret volume, a broken
// configuration written the way kubelet updates a ConfigMap volume, and SIGTERM.
// The load is the benchmark's: autocannon, 32 keep-alive connections, review (a).
// Every wait is bounded in time and every loop in count.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { Agent, request } from 'node:https'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect } from 'node:tls'

import autocannon from 'autocannon'

import { projectVolume, writeServingSecret } from '../support/kubelet-volume.ts'
import { httpGet, metricSum } from '../support/metrics-port.ts'
import { type Authority, fingerprint, loopbackServer, testAuthority } from '../support/pki.ts'
import { type Answer, answerProblem, keepAliveAgent, post } from '../support/review-client.ts'
import { BENCH_CONFIG, labelledUpdate } from '../support/reviews.ts'
import { type Listening, startServe } from '../support/serve.ts'

const CONNECTIONS = 32
const bodies = Array.from({ length: 8 }, () => JSON.stringify(labelledUpdate()))

let dir = ''
let ca: Authority
const servers: Listening[] = []

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'egress-mtls-faults-'))
  ca = await testAuthority('egress-mtls bench CA')
})

after(async () => {
  for (const s of servers) await s.stop('SIGKILL')
  await rm(dir, { recursive: true, force: true })
})

/** A webhook whose certificate (Secret) and configuration (ConfigMap) are projected volumes. */
async function start (name: string, logLevel = 'info'): Promise<{ server: Listening, secretDir: string, configDir: string }> {
  const secretDir = join(dir, name, 'tls')
  const configDir = join(dir, name, 'config')
  const tls = writeServingSecret(secretDir, await loopbackServer(ca, 7), ca)
  projectVolume(configDir, { 'config.yaml': BENCH_CONFIG })
  const server = await startServe({ config: join(configDir, 'config.yaml'), ...tls }, { logLevel })
  servers.push(server)
  return { server, secretDir, configDir }
}

/** The benchmark's load until stop(): reconnecting every `reconnectRate` requests when given. */
function load (port: number, reconnectRate?: number): autocannon.Instance {
  return autocannon({
    url: `https://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: 60,
    timeout: 10,
    tlsOptions: { ca: ca.cert },
    ...(reconnectRate === undefined ? {} : { reconnectRate }),
    requests: bodies.map((body) => ({ method: 'POST', path: '/mutate', headers: { 'content-type': 'application/json' }, body })),
  })
}

function failures (r: autocannon.Result): string {
  return `${r['2xx']} answered 2xx, ${r.non2xx} non-2xx (${JSON.stringify(r.statusCodeStats)}), ${r.errors} errors, ${r.timeouts} timeouts`
}

/** The fingerprint of the certificate a new TLS connection is served. */
function servedFingerprint (port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: ca.cert, timeout: 5000 }, () => {
      const cert = socket.getPeerX509Certificate()
      socket.destroy()
      if (cert === undefined) reject(new Error('no peer certificate'))
      else resolve(cert.fingerprint256)
    })
    socket.on('error', reject).on('timeout', () => socket.destroy(new Error('TLS handshake timeout')))
  })
}

/** Polls `check` every 100 ms until it returns true; false after `ms`. */
async function eventually (check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms
  for (let i = 0; i < 1000 && performance.now() < deadline; i++) {
    if (await check()) return true
    await sleep(100)
  }
  return false
}

/** The targets review (a) gets injected with, from the patch of its answer. */
async function injectedTargets (port: number): Promise<string> {
  const agent = keepAliveAgent(ca.cert, 1)
  try {
    const body = JSON.stringify(labelledUpdate())
    const answer = await post(agent, port, body)
    assert.equal(answerProblem(body, answer), undefined)
    const { patch } = (JSON.parse(answer.body) as { response: { patch?: string } }).response
    const ops = patch === undefined ? [] : JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as { path: string, value?: unknown }[]
    const injected = ops.find((o) => o.path.endsWith('/egress-mtls.io~1injected'))
    return typeof injected?.value === 'string' ? injected.value : ''
  } finally {
    agent.destroy()
  }
}

test('the certificate files are replaced several times under load (Secret volume updates): no request fails, each new certificate is served', { timeout: 120_000 }, async (t) => {
  const { server, secretDir } = await start('certs')
  const pairs = [await loopbackServer(ca, 7), await loopbackServer(ca, 7), await loopbackServer(ca, 7), await loopbackServer(ca, 7)]
  const other = await loopbackServer(ca, 7)
  // Reconnecting every 20 requests keeps TLS handshakes going on while certificates change.
  const running = load(server.https, 20)
  const seen: string[] = []
  try {
    await sleep(500)
    for (const [i, pair] of pairs.entries()) {
      const t0 = performance.now()
      writeServingSecret(secretDir, pair, ca)
      const want = fingerprint(pair.cert)
      assert.ok(await eventually(async () => await servedFingerprint(server.https) === want, 10_000), `certificate ${i + 1} not served within 10 s:\n${server.output()}`)
      seen.push(`${(performance.now() - t0).toFixed(0)} ms`)
      if (i === 1) {
        // A bad pair (key of another certificate): the current one stays.
        writeServingSecret(secretDir, { cert: other.cert, key: pair.key }, ca)
        await sleep(2500)
        assert.equal(await servedFingerprint(server.https), want, 'a mismatched pair replaced the served certificate')
      }
      await sleep(400)
    }
  } finally {
    running.stop()
  }
  const result = await running
  t.diagnostic(`4 rotations (+1 bad pair) served after ${seen.join(', ')}; ${failures(result)}`)
  assert.ok(result['2xx'] > 0, failures(result))
  assert.equal(result.non2xx + result.errors + result.timeouts, 0, failures(result))
})

test('a broken configuration written under load (ConfigMap update) keeps the last good one, fails no request, and is counted', { timeout: 120_000 }, async (t) => {
  const { server, configDir } = await start('config')
  const metrics = async (result: string): Promise<number> =>
    metricSum((await httpGet(server.metrics!, '/metrics')).body, 'egress_mtls_config_reloads_total', { result })
  const before = { failure: await metrics('failure'), success: await metrics('success'), targets: await injectedTargets(server.https) }
  assert.equal(before.targets, 'bank-api,tax-gw,audit-sink')

  const running = load(server.https)
  let during = ''
  let afterGood = ''
  try {
    await sleep(500)
    // A YAML syntax error, then a schema error: both refused, both counted.
    projectVolume(configDir, { 'config.yaml': `${BENCH_CONFIG}\n  - name: [unclosed\n` })
    assert.ok(await eventually(async () => await metrics('failure') >= before.failure + 1, 10_000), `no failed reload counted:\n${server.output()}`)
    projectVolume(configDir, { 'config.yaml': BENCH_CONFIG.replace('host: api.bank.example.com', 'host: "*.bank.example.com"') })
    assert.ok(await eventually(async () => await metrics('failure') >= before.failure + 2, 10_000), `the second failed reload was not counted:\n${server.output()}`)
    during = await injectedTargets(server.https)
    // A good configuration after the bad ones is taken: bank-api leaves the namespace.
    projectVolume(configDir, { 'config.yaml': BENCH_CONFIG.replace('namespaces: [payments]\n', 'namespaces: [billing]\n') })
    assert.ok(await eventually(async () => await metrics('success') >= before.success + 1, 10_000), `the good configuration was not reloaded:\n${server.output()}`)
    afterGood = await injectedTargets(server.https)
    await sleep(500)
  } finally {
    running.stop()
  }
  const result = await running
  t.diagnostic(`injected while broken: ${during}; after the good one: ${afterGood}; ${failures(result)}`)
  assert.equal(during, before.targets, 'the last good configuration was not kept')
  assert.equal(afterGood, 'tax-gw,audit-sink')
  assert.ok(result['2xx'] > 0, failures(result))
  assert.equal(result.non2xx + result.errors + result.timeouts, 0, failures(result))
})

interface Exchange {
  readonly uid: string
  readonly body: string
  /** Date.now() when the review was all written to the socket, if it was (when the client got to it: late by its stalls). */
  readonly writtenAt: number | undefined
  /** Date.now() just before the review was handed to the connection: no byte of it was written earlier. */
  readonly sentAt: number
  readonly answer: Answer | undefined
  readonly close: boolean
  readonly error: string | undefined
}

/** POST a review, noting when it was all written; checking the answer is left for later. */
function timedPost (agent: Agent, port: number, uid: string, body: string): Promise<Exchange> {
  return new Promise((resolve) => {
    let writtenAt: number | undefined
    let sentAt = Date.now()
    const req = request({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', agent, timeout: 10_000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        const answer = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }
        resolve({ uid, body, writtenAt, sentAt, answer, close: res.headers.connection === 'close', error: undefined })
      })
    })
    req.on('finish', () => { writtenAt = Date.now() })
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')))
    req.on('error', (err) => { resolve({ uid, body, writtenAt, sentAt, answer: undefined, close: false, error: err.message }) })
    sentAt = Date.now()
    req.end(body)
  })
}

/**
 * A connection on which, like kube-apiserver under load, reviews are sent back to back
 * until an answer says Connection: close or the connection fails. Returns the last exchange.
 */
async function busyConnection (port: number, until: () => boolean, out: Exchange[]): Promise<Exchange | undefined> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert })
  let last: Exchange | undefined
  try {
    for (let i = 0; i < 100_000 && !until(); i++) {
      // A uid of its own for each review, so that the server's log can be matched with answers.
      const uid = randomUUID()
      last = await timedPost(agent, port, uid, bodies[i % bodies.length]!.replace(/"uid":"[^"]*"/, `"uid":"${uid}"`))
      out.push(last)
      if (last.close || last.error !== undefined) break
    }
  } finally {
    agent.destroy()
  }
  return last
}

/** An idle keep-alive connection (one review answered) and the time the server closes it. */
async function idleConnection (port: number): Promise<{ closed: Promise<number>, agent: Agent }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert })
  let socket: Socket | undefined
  const body = bodies[0]!
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      socket = res.socket
      res.resume().on('end', resolve)
    })
    req.on('error', reject).end(body)
  })
  await sleep(20)
  const s = socket!
  return { agent, closed: new Promise((resolve) => { if (s.destroyed) resolve(Date.now()); else s.once('close', () => { resolve(Date.now()) }) }) }
}

/** A review whose headers and half its body are sent now, the rest when finish() is called. */
interface PartialAnswer { status: number, close: boolean, problem: string | undefined }

function partialReview (port: number): { finish: () => void, answer: Promise<PartialAnswer> } {
  const body = Buffer.from(bodies[1]!)
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert })
  let finish = (): void => undefined
  const answer = new Promise<{ status: number, close: boolean, problem: string | undefined }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, close: res.headers.connection === 'close', problem: answerProblem(body, { status: res.statusCode ?? 0, headers: res.headers, body: text }) })
        agent.destroy()
      })
    })
    req.on('error', (err) => { agent.destroy(); reject(err) })
    req.write(body.subarray(0, body.length >> 1))
    finish = () => { req.end(body.subarray(body.length >> 1)) }
  })
  return { finish: () => { finish() }, answer }
}

test('SIGTERM under load: reviews in flight are answered with Connection: close, idle connections close at once, exit 0 well within the grace period', { timeout: 120_000 }, async (t) => {
  const { server } = await start('sigterm', 'debug')
  const idle = await Promise.all(Array.from({ length: 4 }, () => idleConnection(server.https)))
  const partial = [partialReview(server.https), partialReview(server.https)]
  const exchanges: Exchange[] = []
  let stop = false
  const busy = Promise.all(Array.from({ length: 16 }, () => busyConnection(server.https, () => stop, exchanges)))
  await sleep(1500)
  // The client's own stalls (this machine is shared) are measured: a stalled client sends
  // its next review late, and may fairly find its connection closed as idle.
  const stalls = monitorEventLoopDelay({ resolution: 5 })
  stalls.enable()
  const signalAt = Date.now()
  server.child.kill('SIGTERM')
  await sleep(300)
  for (const p of partial) p.finish()

  const exit = await Promise.race([server.exited, sleep(30_000).then(() => undefined)])
  const exitedAt = Date.now()
  stop = true
  const ends = await Promise.race([busy, sleep(15_000).then(() => [])])
  stalls.disable()
  const clientStallMs = Math.round(stalls.max / 1e6)
  const closedAt = async (c: (typeof idle)[number]): Promise<number> =>
    (await Promise.race([c.closed, sleep(1000).then(() => Number.NaN)])) - signalAt
  const idleClosed = await Promise.all(idle.map(closedAt))
  for (const c of idle) c.agent.destroy()
  const unanswered = (err: unknown): PartialAnswer => ({ status: 0, close: false, problem: String(err) })
  const partialAnswers = await Promise.all(partial.map((p) => p.answer.catch(unanswered)))

  // When the server saw the signal (its log), and the uids it logged as answered after it
  // (a debug line per review) that the client never got.
  const lines = server.output().split('\n')
  // Log times are ISO strings (or epoch milliseconds with --log-format json and pino's default).
  const timeOf = (l: string | undefined): number => {
    const m = /"time":(?:(\d+)|"([^"]+)")/.exec(l ?? '')
    return m === null ? Number.NaN : m[1] !== undefined ? Number(m[1]) : Date.parse(m[2] ?? '')
  }
  const signalSeen = timeOf(lines.find((l) => l.includes('"msg":"signal received"')))
  const answeredUids = new Set(exchanges.filter((e) => e.answer !== undefined).map((e) => e.uid))
  const lost = lines.filter((l) => l.includes('"msg":"review"') && timeOf(l) >= signalAt)
    .map((l) => /"uid":"([^"]+)"/.exec(l)?.[1] ?? '')
    .filter((u) => !answeredUids.has(u) && !bodies[1]!.includes(u))
  const failed = exchanges.filter((e) => e.error !== undefined)
  // writtenAt is taken when the client gets to it, never earlier than the write itself.
  const writtenBefore = failed.filter((e) => e.writtenAt !== undefined && e.writtenAt < signalSeen)
  const answeredAfter = exchanges.filter((e) => e.answer !== undefined && e.writtenAt !== undefined && e.writtenAt >= signalAt)
  const toldToClose = ends.filter((e) => e?.close === true).length
  const describe = (e: Exchange): string => `${e.error ?? ''} (written ${e.writtenAt === undefined ? 'never' : `${e.writtenAt - signalSeen} ms after the server saw SIGTERM`})`

  t.diagnostic(`SIGTERM sent; the server saw it ${signalSeen - signalAt} ms later; exit after ${exitedAt - signalAt} ms (${JSON.stringify(exit)}); ` +
    `${exchanges.length - answeredAfter.length - failed.length} reviews answered before; after it ${answeredAfter.length} answered, ` +
    `${toldToClose} of 16 busy connections told Connection: close, ${failed.length} reset (${failed.map(describe).join('; ')}); ` +
    `idle connections closed after ${idleClosed.map((ms) => `${ms} ms`).join(', ')}; partial reviews ${partialAnswers.map((a) => `${a.status}${a.close ? ' close' : ''}`).join(', ')}; ` +
    `longest client stall ${clientStallMs} ms`)

  assert.ok(exchanges.length > 16, 'no load before the signal')
  assert.ok(Number.isFinite(signalSeen), `the server logged no "signal received":\n${server.output().slice(-3000)}`)
  assert.deepEqual(exit, { code: 0, signal: null }, `exit:\n${server.output().slice(-3000)}`)
  // The grace period is 25 s; with every connection closed as it should be, nothing waits for it.
  assert.ok(exitedAt - signalAt < 5000, `exited ${exitedAt - signalAt} ms after SIGTERM`)
  for (const ms of idleClosed) assert.ok(ms - (signalSeen - signalAt) < 1000, `an idle keep-alive connection stayed open ${ms} ms after SIGTERM`)
  for (const a of partialAnswers) {
    assert.equal(a.problem, undefined, 'a review received before SIGTERM was not answered right')
    assert.equal(a.status, 200)
    assert.ok(a.close, 'the answer to a review in flight at SIGTERM lacks Connection: close')
  }
  const problems = exchanges.filter((e) => e.answer !== undefined).map((e) => answerProblem(e.body, e.answer!))
  assert.deepEqual(problems.filter((p) => p !== undefined), [])
  assert.deepEqual(lost, [], 'reviews the server answered after SIGTERM never reached the client')
  // A review all written to its connection before the server saw the signal was received
  // (it sits in the server's socket buffer): it must be answered, not reset.
  assert.deepEqual(writtenBefore.map(describe), [], 'reviews sent before the server saw SIGTERM were reset')
  // Clients sending back to back are told to move elsewhere by an answer with Connection:
  // close, not by a reset of the review they sent next. Only a client that stalled (left its
  // connection unused) may race the close of idle connections.
  const stalled = clientStallMs >= 50
  for (const e of answeredAfter) {
    // sentAt is before any byte of the review left (writtenAt, taken when the client gets to
    // it, was late by 13 ms once with the client's longest stall measured at 10 ms), and both
    // clocks tick in whole milliseconds: a review sent later than that was read by a server
    // already shutting down.
    if (e.sentAt > signalSeen + 1) assert.ok(e.close, `an answer to a review sent ${e.sentAt - signalSeen} ms after the server saw SIGTERM lacks Connection: close`)
  }
  const needed = stalled ? 1 : 14
  assert.ok(toldToClose >= needed, `${toldToClose} of 16 busy connections were answered with Connection: close after SIGTERM (${failed.length} had their next review reset; the client stalled at most ${clientStallMs} ms)`)
})
