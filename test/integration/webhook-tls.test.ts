// The TLS policy of the webhook port (docs/design.md "Protocol (webhook)", issue 11): TLS 1.3,
// and TLS 1.2 with ECDHE + AEAD suites only (Go's crypto/tls defaults: kube-apiserver is a
// Go client), no CBC, no RSA key exchange, no TLS 1.1, no renegotiation; with an EC and an
// RSA serving certificate. Every refusal is checked against a control server with Node's
// defaults that the same client does get through, so the refusal comes from the webhook.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { connect, type ConnectionOptions, createServer, type Server } from 'node:tls'

import { sample, scrape } from '../support/metrics-port.ts'
import { startTestWebhook, type TestWebhook } from '../support/webhook.ts'

interface Side {
  readonly webhook: TestWebhook
  /** A TLS server with the same certificate and Node's defaults, TLS 1.0 and weak suites allowed. */
  readonly lax: Server
  readonly laxPort: number
}

async function side (keyType: 'ec' | 'rsa'): Promise<Side> {
  const webhook = await startTestWebhook({ keyType })
  const lax = createServer({ cert: webhook.leaf.cert, key: webhook.leaf.key, minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => { s.on('error', () => undefined).resume() })
  await new Promise<void>((resolve) => lax.listen(0, '127.0.0.1', resolve))
  return { webhook, lax, laxPort: (lax.address() as { port: number }).port }
}

let ec: Side
let rsa: Side
before(async () => { [ec, rsa] = await Promise.all([side('ec'), side('rsa')]) })
after(async () => {
  for (const s of [ec, rsa]) {
    s.lax.close()
    s.lax.unref()
    await s.webhook.webhook.close(100)
  }
})

/** The protocol and suite (IANA name) a handshake agrees on; rejects when it fails. */
function handshake (port: number, s: Side, options: ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    // SECLEVEL=0 lets this client offer TLS 1.0/1.1 and every suite: refusals come from the server.
    const socket = connect({ host: '127.0.0.1', port, ca: s.webhook.ca.cert, servername: 'localhost', ciphers: 'DEFAULT@SECLEVEL=0', ...options }, () => {
      const agreed = `${socket.getProtocol() ?? ''} ${socket.getCipher().standardName}`
      socket.destroy()
      resolve(agreed)
    })
    socket.on('error', reject)
  })
}

const webhookPort = (s: Side): number => s.webhook.webhook.port

async function refused (s: Side, options: ConnectionOptions): Promise<void> {
  await handshake(s.laxPort, s, options) // the control gets through
  await assert.rejects(handshake(webhookPort(s), s, options), JSON.stringify(options))
}

describe('TLS versions', () => {
  test('refuses TLS 1.0 and 1.1, accepts TLS 1.2 and 1.3', async () => {
    for (const version of ['TLSv1', 'TLSv1.1'] as const) {
      assert.match(await handshake(ec.laxPort, ec, { minVersion: version, maxVersion: version }), new RegExp(`^${version.replace('.', '\\.')} `))
      await assert.rejects(handshake(webhookPort(ec), ec, { minVersion: version, maxVersion: version }), { code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' })
    }
    assert.match(await handshake(webhookPort(ec), ec, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }), /^TLSv1\.2 /)
    assert.match(await handshake(webhookPort(ec), ec, { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' }), /^TLSv1\.3 /)
  })

  test('TLS 1.3 with each of its default suites', async () => {
    for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']) {
      for (const s of [ec, rsa]) assert.equal(await handshake(webhookPort(s), s, { minVersion: 'TLSv1.3', ciphers: suite }), `TLSv1.3 ${suite}`)
    }
  })
})

describe('TLS 1.2 suites', () => {
  const tls12 = (ciphers: string): ConnectionOptions => ({ maxVersion: 'TLSv1.2', ciphers: `${ciphers}@SECLEVEL=0` })

  test('EC certificate: ECDHE with AES-GCM or ChaCha20-Poly1305 only, as Go offers them', async () => {
    for (const [suite, iana] of [
      ['ECDHE-ECDSA-AES128-GCM-SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
      ['ECDHE-ECDSA-AES256-GCM-SHA384', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
      ['ECDHE-ECDSA-CHACHA20-POLY1305', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
    ]) assert.equal(await handshake(webhookPort(ec), ec, tls12(suite!)), `TLSv1.2 ${iana}`)
    const before = sample(await scrape(ec.webhook.webhook.metricsPort), 'egress_mtls_http_rejections_total', { reason: 'tls_handshake_failed' }) ?? 0
    const cbc = ['ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA-AES256-SHA384', 'ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA']
    for (const suite of cbc) await refused(ec, tls12(suite))
    const afterwards = sample(await scrape(ec.webhook.webhook.metricsPort), 'egress_mtls_http_rejections_total', { reason: 'tls_handshake_failed' })
    assert.equal(afterwards, before + cbc.length, 'each refused handshake is counted')
  })

  test('RSA certificate: ECDHE-RSA with AEAD accepted; CBC and RSA key exchange refused', async () => {
    for (const [suite, iana] of [
      ['ECDHE-RSA-AES128-GCM-SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
      ['ECDHE-RSA-AES256-GCM-SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
      ['ECDHE-RSA-CHACHA20-POLY1305', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
    ]) assert.equal(await handshake(webhookPort(rsa), rsa, tls12(suite!)), `TLSv1.2 ${iana}`)
    // RSA key exchange (no forward secrecy), with AEAD and with CBC; then ECDHE with CBC.
    for (const suite of ['AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'AES128-SHA256', 'AES128-SHA', 'ECDHE-RSA-AES128-SHA256', 'ECDHE-RSA-AES256-SHA384', 'ECDHE-RSA-AES128-SHA']) {
      await refused(rsa, tls12(suite))
    }
  })
})

describe('renegotiation', () => {
  /** Resolves once a TLS 1.2 client's renegotiation succeeded; rejects with the error that ended it. */
  const renegotiate = (port: number, s: Side): Promise<void> => new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: s.webhook.ca.cert, servername: 'localhost', maxVersion: 'TLSv1.2' }, () => {
      socket.renegotiate({}, (err) => {
        socket.destroy()
        if (err === null) resolve(); else reject(err)
      })
      // The server answers the renegotiation request when it reads the next record.
      socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n')
    })
    socket.on('error', (err: Error) => { socket.destroy(); reject(err) })
    socket.on('close', () => { reject(new Error('closed before the renegotiation ended')) })
  })

  test('a TLS 1.2 client asking to renegotiate is refused (control: Node\'s default server allows it)', async () => {
    for (const s of [ec, rsa]) {
      await renegotiate(s.laxPort, s)
      await assert.rejects(renegotiate(webhookPort(s), s), /no renegotiation/)
    }
  })
})
