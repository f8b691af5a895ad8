// The webhook's protocol (docs/design.md "Protocol (webhook)"): AdmissionReview in and out over
// real TLS, the body limit, keep-alive, and the usage errors of
// `egress-mtls serve` (the TLS policy: webhook-tls.test.ts; 400, 415 and 404 in process: test/unit/webhook-protocol.test.ts).
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { Agent, request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { connect, type TLSSocket } from 'node:tls'

import { main } from '../../src/cli/main.ts'
import { type AdmissionRequest, reviewResponse } from '../../src/core/admission/admission-review.ts'
import { admit } from '../../src/core/admission/admit.ts'
import { BODY_LIMIT } from '../../src/server/app.ts'
import { parsedConfig } from '../support/config.ts'
import { tempDir } from '../support/kubelet-volume.ts'
import { deploymentReview, EXAMPLE_CONFIG, post, startTestWebhook, type TestWebhook } from '../support/webhook.ts'

let t: TestWebhook
let ca: string
before(async () => {
  t = await startTestWebhook()
  ca = t.ca.cert
})
after(async () => { await t.webhook.close() })

const errorOf = (body: string): string => (JSON.parse(body) as { message: string }).message

describe('POST /mutate', () => {
  test('answers a review with what admit() decides, uid and apiVersion echoed', async () => {
    const review = deploymentReview('3f1c9e4a-0001')
    const res = await post(t.webhook.port, JSON.stringify(review), { ca })
    assert.equal(res.status, 200)
    assert.match(String(res.headers['content-type']), /^application\/json/)
    const answer = JSON.parse(res.body) as { apiVersion: string, kind: string, response: { uid: string, allowed: boolean } }
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1')
    assert.equal(answer.kind, 'AdmissionReview')
    assert.equal(answer.response.uid, '3f1c9e4a-0001')
    // The server relays the shared decision unchanged (the same code path as `inject`).
    const expected = reviewResponse('admission.k8s.io/v1', admit(review.request as unknown as AdmissionRequest, parsedConfig(EXAMPLE_CONFIG)).response)
    assert.deepEqual(answer, JSON.parse(JSON.stringify(expected)))
  })

  test('echoes admission.k8s.io/v1beta1 and accepts a charset parameter', async () => {
    const review = { ...deploymentReview('v1beta1-uid'), apiVersion: 'admission.k8s.io/v1beta1' }
    const res = await post(t.webhook.port, JSON.stringify(review), { ca, contentType: 'application/json; charset=utf-8' })
    assert.equal(res.status, 200)
    const answer = JSON.parse(res.body) as { apiVersion: string, response: { uid: string } }
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1beta1')
    assert.equal(answer.response.uid, 'v1beta1-uid')
  })

  test(`a body of exactly ${BODY_LIMIT} bytes (2 x 3 MiB + 64 KiB: an UPDATE of the largest object) is answered; one byte more is 413`, async () => {
    const review = deploymentReview('big-uid')
    const pad = (size: number): string => {
      const obj = review.request['object'] as { metadata: { annotations?: Record<string, string> } }
      obj.metadata.annotations = { padding: '' }
      const base = JSON.stringify(review).length
      obj.metadata.annotations['padding'] = 'x'.repeat(size - base)
      const text = JSON.stringify(review)
      assert.equal(Buffer.byteLength(text), size)
      return text
    }
    const ok = await post(t.webhook.port, pad(BODY_LIMIT), { ca })
    assert.equal(ok.status, 200)
    assert.equal((JSON.parse(ok.body) as { response: { uid: string } }).response.uid, 'big-uid')

    // Go's client sends a Content-Length: the server refuses before reading the body.
    const res = await new Promise<{ status: number, body: string }>((resolve, reject) => {
      requestHeadersOnly(t.webhook.port, BODY_LIMIT + 1, ca, resolve).on('error', reject)
    })
    assert.equal(res.status, 413)
    assert.match(errorOf(res.body), /larger than 6356992 bytes/)
  })

  test('a chunked review (no Content-Length, its body in several writes) is answered like any other', async () => {
    const body = JSON.stringify(deploymentReview('chunked-uid'))
    const answer = await new Promise<{ status: number, body: string }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: t.webhook.port, method: 'POST', path: '/mutate', ca, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (c: string) => { text += c }).on('end', () => { resolve({ status: res.statusCode ?? 0, body: text }) })
      })
      req.on('error', reject)
      const third = Math.ceil(body.length / 3)
      req.write(body.slice(0, third))
      assert.equal(req.chunkedEncoding, true)
      setTimeout(() => { req.write(body.slice(third, 2 * third)) }, 20)
      setTimeout(() => { req.end(body.slice(2 * third)) }, 40)
    })
    assert.equal(answer.status, 200)
    assert.equal((JSON.parse(answer.body) as { response: { uid: string } }).response.uid, 'chunked-uid')
  })

  test('keeps HTTP/1.1 connections alive across reviews, even after bad input', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const first = await post(t.webhook.port, JSON.stringify(deploymentReview()), { ca, agent })
      const bad = await post(t.webhook.port, '[]', { ca, agent })
      const second = await post(t.webhook.port, JSON.stringify(deploymentReview()), { ca, agent })
      assert.deepEqual([first.status, bad.status, second.status], [200, 400, 200])
      assert.equal(first.reusedSocket, false)
      assert.equal(second.reusedSocket, true)
      assert.equal(first.headers.connection, 'keep-alive')
    } finally {
      agent.destroy()
    }
  })
})

function requestHeadersOnly (
  port: number, contentLength: number, ca: string, done: (r: { status: number, body: string }) => void,
): TLSSocket {
  // Headers only: a compliant server answers 413 from the Content-Length alone.
  const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
    socket.write(`POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n`)
  })
  let raw = ''
  socket.setEncoding('utf8')
  socket.on('data', (c: string) => {
    raw += c
    const head = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(raw)
    const length = /content-length: (\d+)/i.exec(head?.[2] ?? '')
    if (head !== null && length !== null && raw.length >= head[0].length + Number(length[1])) {
      socket.destroy()
      done({ status: Number(head[1]), body: raw.slice(head[0].length) })
    }
  })
  return socket
}

describe('serve: usage', () => {
  const serve = async (...args: string[]): Promise<{ code: number, stderr: string }> => {
    const stderr = new PassThrough()
    let text = ''
    stderr.on('data', (c: Buffer) => { text += c.toString() })
    const code = await main(['serve', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', ...args], { stdin: new PassThrough(), stdout: new PassThrough(), stderr, env: {} })
    return { code, stderr: text }
  }

  test('no certificate source: exit 2', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'config.yaml'), EXAMPLE_CONFIG)
    const r = await serve('--config', join(dir, 'config.yaml'))
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--tls-cert FILE and --tls-key FILE, or --self-signed/)
    const half = await serve('--config', join(dir, 'config.yaml'), '--tls-cert', join(dir, 'tls.crt'))
    assert.equal(half.code, 2)
  })

  test('a bad configuration: exit 2 with the field named', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'config.yaml'), 'targets:\n  - name: bank-api\n    host: "not a host"\n    namespaces: [payments]\n')
    const r = await serve('--config', join(dir, 'config.yaml'), '--self-signed')
    assert.equal(r.code, 2)
    assert.match(r.stderr, /config\.yaml:3: targets\[0\]\.host: must be a lowercase DNS name/)
  })

  test('no configuration at all: exit 2', async () => {
    const r = await serve('--self-signed')
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--config FILE or set EGRESS_MTLS_CONFIG/)
  })

  test('a bad listen address: exit 2', async () => {
    for (const addr of ['8443', 'localhost', ':99999', '[::1:8443']) {
      const r = await serve('--self-signed', '--config', 'examples/config.yaml', '--listen', addr)
      assert.equal(r.code, 2, addr)
      assert.match(r.stderr, /--listen .*must be \[HOST\]:PORT/)
    }
  })
})
