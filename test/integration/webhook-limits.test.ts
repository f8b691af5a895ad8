// The bounds of the webhook port (issues 11 and 25): a connection cap, overall and per client
// address, a memory budget for the bodies in flight, and time limits on TLS handshakes,
// headers and bodies, each over real TLS with the limit made small; idle
// keep-alive connections outlive the headers timeout; the defaults in force are those
// the README documents (below kube-apiserver's 30 s webhook timeout, keep-alive above
// its Go client's 90 s idle timeout). Every refusal is counted in
// egress_mtls_http_rejections_total, never as an admission error.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { Agent } from 'node:https'
import { connect as tcpConnect, type Socket } from 'node:net'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect, type TLSSocket } from 'node:tls'

import { httpGet, sample, scrape } from '../support/metrics-port.ts'
import { deploymentReview, post, startTestWebhook, type TestWebhook } from '../support/webhook.ts'

const REJECTIONS = 'egress_mtls_http_rejections_total'
const ADMISSIONS = 'egress_mtls_admission_requests_total'

async function rejections (t: TestWebhook, reason: string): Promise<number> {
  return sample(await scrape(t.webhook.metricsPort), REJECTIONS, { reason }) ?? 0
}

/** A TLS connection with its handshake completed, or the error that ended it first (from `localAddress`, a loopback address). */
function tlsConnection (t: TestWebhook, localAddress?: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: t.webhook.port, ca: t.ca.cert, servername: 'localhost', ...(localAddress === undefined ? {} : { localAddress }) }, () => { resolve(socket) })
    socket.once('error', reject)
    socket.once('close', () => { reject(new Error('closed before the TLS handshake completed')) })
  })
}

/** Resolves with what the server sent once it closes `socket`; rejects if it is still open after `ms`. */
async function closedByServer (socket: Socket, ms: number): Promise<string> {
  let received = ''
  socket.setEncoding('utf8').on('data', (c: string) => { received += c })
  socket.on('error', () => undefined)
  const closed = once(socket, 'close').then(() => received)
  const timer = sleep(ms).then(() => { throw new Error(`still open after ${ms} ms; received ${JSON.stringify(received)}`) })
  try {
    return await Promise.race([closed, timer])
  } finally {
    socket.destroy()
  }
}

/** Sends a review's headers (its whole Content-Length) and its first `sent` bytes on a new connection. */
async function partialReview (t: TestWebhook, body: string, sent: number): Promise<TLSSocket> {
  const socket = await tlsConnection(t)
  socket.write(`POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, sent)}`)
  return socket
}

/** A review padded with an annotation to about `bytes` bytes. */
function paddedReview (bytes: number): string {
  const review = deploymentReview()
  const object = review.request['object'] as { metadata: { annotations?: Record<string, string> } }
  object.metadata.annotations = { padding: 'x'.repeat(bytes) }
  return JSON.stringify(review)
}

/** Polls until `check` holds (the server sees a client's close a moment after the client). */
async function eventually (check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return
    await sleep(30)
  }
  assert.fail(`never: ${what}`)
}

async function withWebhook (limits: Parameters<typeof startTestWebhook>[0], body: (t: TestWebhook) => Promise<void>): Promise<void> {
  const t = await startTestWebhook(limits)
  try { await body(t) } finally { await t.webhook.close(100) }
}

describe('webhook port limits', { concurrency: true }, () => {
  test('connections beyond the cap are closed at once and counted; a freed place is taken again', () => withWebhook({ limits: { maxConnections: 2 } }, async (t) => {
    const held = [await tlsConnection(t), await tlsConnection(t)]
    await assert.rejects(tlsConnection(t), 'a third connection is refused')
    assert.equal(await rejections(t, 'connection_limit'), 1)
    assert.equal(sample(await scrape(t.webhook.metricsPort), 'egress_mtls_open_connections'), 2)
    held[0]!.destroy()
    await once(held[0]!, 'close')
    // The server sees the close a moment after the client.
    let answer
    for (let i = 0; i < 50 && answer === undefined; i++) {
      answer = await post(t.webhook.port, JSON.stringify(deploymentReview()), { ca: t.ca.cert }).catch(() => undefined)
      if (answer === undefined) await sleep(20)
    }
    assert.equal(answer?.status, 200)
    held[1]!.destroy()
    const metrics = await scrape(t.webhook.metricsPort)
    assert.equal(sample(metrics, ADMISSIONS, { kind: 'unknown', operation: 'unknown', result: 'error' }), undefined, 'not an admission error')
  }))

  test('a TCP connection that never sends a ClientHello is closed after the handshake timeout, and counted', () => withWebhook({ limits: { handshakeTimeoutMs: 300 } }, async (t) => {
    const socket = tcpConnect(t.webhook.port, '127.0.0.1')
    await once(socket, 'connect')
    await closedByServer(socket, 3000)
    assert.equal(await rejections(t, 'tls_handshake_timeout'), 1)
  }))

  test('headers that arrive too slowly are answered 408 and the connection closed, and counted', () => withWebhook({ limits: { headersTimeoutMs: 300, requestTimeoutMs: 2000 } }, async (t) => {
    const socket = await tlsConnection(t)
    socket.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n')
    assert.match(await closedByServer(socket, 3000), /^HTTP\/1\.1 408 /)
    assert.equal(await rejections(t, 'request_timeout'), 1)
  }))

  test('a connection that sends no request at all is closed after the headers timeout', () => withWebhook({ limits: { headersTimeoutMs: 300, requestTimeoutMs: 2000 } }, async (t) => {
    await closedByServer(await tlsConnection(t), 3000)
  }))

  test('a body that arrives too slowly is answered 408 and the connection closed, and counted', () => withWebhook({ limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } }, async (t) => {
    const body = JSON.stringify(deploymentReview())
    const socket = await tlsConnection(t)
    socket.write(`POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 100)}`)
    assert.match(await closedByServer(socket, 3000), /^HTTP\/1\.1 408 /)
    // Counted once, as what it is.
    assert.deepEqual([await rejections(t, 'request_timeout'), await rejections(t, 'bad_request'), await rejections(t, 'client_closed')], [1, 0, 0])
    assert.equal(sample(await scrape(t.webhook.metricsPort), 'egress_mtls_requests_in_flight'), 0)
  }))

  test('bodies in flight share one memory budget: beyond it a large body is refused with 503, counted and logged; small ones still pass; the bytes come back', () => withWebhook({ limits: { bodyBudgetBytes: 1024 * 1024, bodyTimeoutMs: 20_000 } }, async (t) => {
    // Two bodies of 520 KB held all but their last byte fill the budget of 1 MiB but for a few kilobytes.
    const body = paddedReview(520_000)
    const held = [await partialReview(t, body, body.length - 1), await partialReview(t, body, body.length - 1)]
    const gauge = async (): Promise<number> => sample(await scrape(t.webhook.metricsPort), 'egress_mtls_request_body_bytes') ?? -1
    await eventually(async () => await gauge() === 2 * (Buffer.byteLength(body) - 1), 'both bodies held')
    const third = await partialReview(t, paddedReview(400_000), 400_000)
    const answer = await closedByServer(third, 5000)
    assert.match(answer, /^HTTP\/1\.1 503 /)
    assert.match(answer, /request bodies in flight hold \d+ bytes: over the webhook's budget of 1048576 bytes/)
    assert.equal(await rejections(t, 'body_budget'), 1)
    assert.equal(await rejections(t, 'bad_request'), 0)
    const warning = await t.logs.waitFor((e) => e.msg === 'request bodies shed: the memory for bodies in flight is spent')
    assert.equal(warning['shed'], 1)
    // An ordinary review (under 256 KiB) still passes, on the reserve kept for small bodies;
    // every byte comes back once the held ones end.
    assert.equal((await post(t.webhook.port, paddedReview(20_000), { ca: t.ca.cert })).status, 200)
    for (const socket of held) socket.destroy()
    await eventually(async () => await gauge() === 0, 'the budget released')
    assert.equal((await post(t.webhook.port, paddedReview(400_000), { ca: t.ca.cert })).status, 200)
    assert.equal(await rejections(t, 'client_closed'), 2)
  }))

  test('a body that has not arrived within the body deadline after its headers is answered 408, counted as request_timeout only', () => withWebhook({ limits: { bodyTimeoutMs: 300 } }, async (t) => {
    const body = JSON.stringify(deploymentReview())
    const started = performance.now()
    const socket = await partialReview(t, body, 100)
    // Trickling does not help: the deadline counts from the headers.
    const trickle = setInterval(() => { if (socket.writable) socket.write(' ') }, 50)
    try {
      const answer = await closedByServer(socket, 5000)
      assert.match(answer, /^HTTP\/1\.1 408 /)
      assert.match(answer, /body not received within 300 ms of the headers/)
    } finally {
      clearInterval(trickle)
    }
    assert.ok(performance.now() - started < 2500, 'long before the 25 s request timeout')
    assert.deepEqual([await rejections(t, 'request_timeout'), await rejections(t, 'bad_request')], [1, 0])
  }))

  test('a client that goes away in the middle of a body is counted as client_closed, not bad_request', () => withWebhook({}, async (t) => {
    const body = JSON.stringify(deploymentReview())
    const socket = await partialReview(t, body, 100)
    await sleep(100)
    socket.end() // a FIN in the middle of the body
    const reset = await partialReview(t, body, 100)
    await sleep(100)
    reset.destroy()
    await eventually(async () => await rejections(t, 'client_closed') === 2, 'both counted')
    assert.equal(await rejections(t, 'bad_request'), 0)
    assert.equal(sample(await scrape(t.webhook.metricsPort), 'egress_mtls_request_body_bytes'), 0)
  }))

  test('one client address holds at most its share of the connections; another address still connects', () => withWebhook({ limits: { maxConnectionsPerSource: 2 } }, async (t) => {
    const held = [await tlsConnection(t), await tlsConnection(t)]
    await assert.rejects(tlsConnection(t), 'a third connection from 127.0.0.1 is refused')
    assert.equal(await rejections(t, 'source_connection_limit'), 1)
    // kube-apiserver instances each connect from their own address.
    const other = await tlsConnection(t, '127.0.0.2')
    other.destroy()
    held[0]!.destroy()
    await eventually(async () => (await post(t.webhook.port, JSON.stringify(deploymentReview()), { ca: t.ca.cert }).catch(() => undefined))?.status === 200, 'a freed place taken again')
    held[1]!.destroy()
    const line = await t.logs.waitFor((e) => e.msg === 'listening')
    assert.equal(line['maxConnectionsPerSource'], 2)
  }))

  test('/readyz is 503 while the port is at its connection cap, 200 again once a place is free', () => withWebhook({ limits: { maxConnections: 2 } }, async (t) => {
    const ready = async (): Promise<number> => (await httpGet(t.webhook.metricsPort, '/readyz')).status
    assert.equal(await ready(), 200)
    const held = [await tlsConnection(t), await tlsConnection(t)]
    assert.equal(await ready(), 503)
    held[0]!.destroy()
    await eventually(async () => await ready() === 200, 'ready again')
    held[1]!.destroy()
  }))

  test('an idle keep-alive connection outlives the headers and request timeouts and carries the next review', () => withWebhook({ limits: { headersTimeoutMs: 200, requestTimeoutMs: 400 } }, async (t) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const first = await post(t.webhook.port, JSON.stringify(deploymentReview()), { ca: t.ca.cert, agent })
      await sleep(1200)
      const second = await post(t.webhook.port, JSON.stringify(deploymentReview()), { ca: t.ca.cert, agent })
      assert.deepEqual([first.status, second.status, second.reusedSocket], [200, 200, true])
    } finally {
      agent.destroy()
    }
  }))

  test('by default: 1000 connections, 250 per address, handshakes 5 s, headers 10 s, bodies 5 s after them, requests 25 s, keep-alive 120 s (announced to clients), 24 MiB of bodies', () => withWebhook({}, async (t) => {
    const line = await t.logs.waitFor((e) => e.msg === 'listening')
    const limits = {
      maxConnections: line['maxConnections'],
      maxConnectionsPerSource: line['maxConnectionsPerSource'],
      bodyBudgetBytes: line['bodyBudgetBytes'],
      bodyTimeoutMs: line['bodyTimeoutMs'],
      handshakeTimeoutMs: line['handshakeTimeoutMs'],
      headersTimeoutMs: line['headersTimeoutMs'],
      requestTimeoutMs: line['requestTimeoutMs'],
      keepAliveTimeoutMs: line['keepAliveTimeoutMs'],
    }
    assert.deepEqual(limits, {
      maxConnections: 1000, maxConnectionsPerSource: 250, bodyBudgetBytes: 24 * 1024 * 1024, bodyTimeoutMs: 5000,
      handshakeTimeoutMs: 5000, headersTimeoutMs: 10_000, requestTimeoutMs: 25_000, keepAliveTimeoutMs: 120_000,
    })
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const answer = await post(t.webhook.port, JSON.stringify(deploymentReview()), { ca: t.ca.cert, agent })
      // Go's client keeps idle connections 90 s: the server must keep them longer.
      assert.equal(answer.headers['keep-alive'], 'timeout=120')
    } finally {
      agent.destroy()
    }
  }))
})
