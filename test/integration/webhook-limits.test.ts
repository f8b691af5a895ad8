// The bounds of the webhook port (issue 11): a connection cap, and time limits on TLS
// handshakes, headers and bodies, each over real TLS with the limit made small; idle
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

import { sample, scrape } from '../support/metrics-port.ts'
import { deploymentReview, post, startTestWebhook, type TestWebhook } from '../support/webhook.ts'

const REJECTIONS = 'egress_mtls_http_rejections_total'
const ADMISSIONS = 'egress_mtls_admission_requests_total'

async function rejections (t: TestWebhook, reason: string): Promise<number> {
  return sample(await scrape(t.webhook.metricsPort), REJECTIONS, { reason }) ?? 0
}

/** A TLS connection with its handshake completed, or the error that ended it first. */
function tlsConnection (t: TestWebhook): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: t.webhook.port, ca: t.ca.cert, servername: 'localhost' }, () => { resolve(socket) })
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
    assert.equal(await rejections(t, 'request_timeout'), 1)
    assert.equal(sample(await scrape(t.webhook.metricsPort), 'egress_mtls_requests_in_flight'), 0)
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

  test('by default: 1000 connections, handshakes 5 s, headers 10 s, requests 25 s, keep-alive 120 s (announced to clients)', () => withWebhook({}, async (t) => {
    const line = await t.logs.waitFor((e) => e.msg === 'listening')
    const limits = {
      maxConnections: line['maxConnections'],
      handshakeTimeoutMs: line['handshakeTimeoutMs'],
      headersTimeoutMs: line['headersTimeoutMs'],
      requestTimeoutMs: line['requestTimeoutMs'],
      keepAliveTimeoutMs: line['keepAliveTimeoutMs'],
    }
    assert.deepEqual(limits, {
      maxConnections: 1000, handshakeTimeoutMs: 5000, headersTimeoutMs: 10_000, requestTimeoutMs: 25_000, keepAliveTimeoutMs: 120_000,
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
