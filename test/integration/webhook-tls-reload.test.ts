// The serving certificate is reloaded from its Secret volume without a restart: kubelet's
// `..data` symlink swap while reviews flow on keep-alive and fresh connections fails no
// request; a broken new pair (mismatched key, garbage, half-written) keeps the old one.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { Agent } from 'node:https'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import { projectVolume } from '../support/kubelet-volume.ts'
import { sample, scrape } from '../support/metrics-port.ts'
import { fingerprint, type KeyPair, loopbackServer, notAfterSeconds } from '../support/pki.ts'
import { deploymentReview, post, servedFingerprint, startTestWebhook, type TestWebhook } from '../support/webhook.ts'

const EXPIRY = 'egress_mtls_serving_certificate_expiry_timestamp_seconds'
let t: TestWebhook
before(async () => { t = await startTestWebhook({ watch: { debounceMs: 50, pollMs: 500 } }) })
after(async () => { await t.webhook.close() })

const swap = (pair: KeyPair): void => {
  projectVolume(t.tlsDir, { 'tls.crt': pair.cert, 'tls.key': pair.key, 'ca.crt': t.ca.cert })
}

/** Waits until NEW connections are served `cert`. */
async function servedSoon (cert: string, timeoutMs = 3000): Promise<void> {
  const want = fingerprint(cert)
  const deadline = Date.now() + timeoutMs
  let got = ''
  while (Date.now() < deadline) {
    got = await servedFingerprint(t.webhook.port, t.ca.cert)
    if (got === want) return
    await sleep(25)
  }
  assert.equal(got, want, 'the new certificate is served')
}

test('serves the certificate of the volume and exposes its expiry', async () => {
  assert.equal(await servedFingerprint(t.webhook.port, t.ca.cert), fingerprint(t.leaf.cert))
  assert.equal(sample(await scrape(t.webhook.metricsPort), EXPIRY), notAfterSeconds(t.leaf.cert))
})

test('a kubelet-style swap while reviews flow fails no request; the new certificate is served after', async (ctx) => {
  const next = await loopbackServer(t.ca, 90)
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 })
  const body = JSON.stringify(deploymentReview())
  let ok = 0
  const failures: string[] = []
  let stop = false
  // Keep-alive clients, and one that opens a new TLS connection (a handshake) per review.
  const client = async (agent: Agent | false): Promise<void> => {
    while (!stop) {
      try {
        const res = await post(t.webhook.port, body, { ca: t.ca.cert, agent })
        if (res.status === 200) ok++
        else failures.push(`HTTP ${res.status}`)
      } catch (err) {
        failures.push(String(err))
      }
    }
  }
  const clients = [client(keepAlive), client(keepAlive), client(keepAlive), client(keepAlive), client(false), client(false)]
  try {
    await sleep(300)
    const before = ok
    swap(next)
    await servedSoon(next.cert)
    await sleep(300)
    stop = true
    await Promise.all(clients)
    assert.deepEqual(failures, [])
    assert.ok(before > 0 && ok > before + 10, `reviews flowed before (${before}) and after (${ok}) the swap`)
    ctx.diagnostic(`${ok} reviews, ${before} of them before the swap, none failed`)
  } finally {
    stop = true
    keepAlive.destroy()
  }
  assert.equal(sample(await scrape(t.webhook.metricsPort), EXPIRY), notAfterSeconds(next.cert))
})

test('a broken new pair keeps the current certificate, and a good one is taken after', async () => {
  const current = await loopbackServer(t.ca, 120)
  swap(current)
  await servedSoon(current.cert)
  const other = await loopbackServer(t.ca, 150)
  const broken: [string, KeyPair][] = [
    ['a key that does not match the certificate', { cert: other.cert, key: current.key }],
    ['garbage', { cert: 'not a certificate\n', key: 'not a key\n' }],
    ['a half-written key', { cert: other.cert, key: other.key.slice(0, 60) }],
    ['an empty certificate', { cert: '', key: other.key }],
  ]
  for (const [what, pair] of broken) {
    const from = t.logs.entries.length
    swap(pair)
    const line = await t.logs.waitFor((e) => e.msg.startsWith('serving certificate reload failed'), 3000, from)
    assert.equal(line.level, 50, what)
    assert.doesNotMatch(JSON.stringify(line), /PRIVATE KEY|BEGIN/, 'no key material in logs')
    assert.equal(await servedFingerprint(t.webhook.port, t.ca.cert), fingerprint(current.cert), what)
    const res = await post(t.webhook.port, JSON.stringify(deploymentReview()), { ca: t.ca.cert })
    assert.equal(res.status, 200, what)
    assert.equal(sample(await scrape(t.webhook.metricsPort), EXPIRY), notAfterSeconds(current.cert), what)
  }
  swap(other)
  await servedSoon(other.cert)
  assert.equal(sample(await scrape(t.webhook.metricsPort), EXPIRY), notAfterSeconds(other.cert))
})

test('a change the directory watch cannot see is found by polling', async () => {
  const next = await loopbackServer(t.ca, 200)
  // Written through the symlinks into the current timestamped directory: nothing changes in
  // the watched directory itself, only the periodic stat() sees it.
  writeFileSync(join(t.tlsDir, 'tls.key'), next.key)
  writeFileSync(join(t.tlsDir, 'tls.crt'), next.cert)
  await servedSoon(next.cert)
})
