// The webhook's HTTP protocol, in process (Fastify's inject(): no socket, no TLS): 400 for a
// body that is not an AdmissionReview to answer, 415 for another content type, 404 for other
// paths and methods. What needs the wire (TLS, keep-alive, the body limit before reading,
// shutdown) is test/integration/webhook-protocol.test.ts and its siblings.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { pino } from 'pino'

import { type App, createApp } from '../../src/server/app.ts'
import { createMetrics } from '../../src/server/metrics.ts'
import { servingCertificate } from '../../src/server/tls.ts'
import { parsedConfig } from '../support/config.ts'
import { loopbackServer, testAuthority } from '../support/pki.ts'
import { deploymentReview, EXAMPLE_CONFIG } from '../support/webhook.ts'

let app: App
before(async () => {
  const leaf = await loopbackServer(await testAuthority())
  const config = parsedConfig(EXAMPLE_CONFIG)
  app = createApp({
    certificate: servingCertificate(leaf.cert, leaf.key, 'test'),
    config: () => config,
    metrics: createMetrics(),
    log: pino({ level: 'silent' }),
    draining: () => false,
  })
  await app.ready()
})
after(async () => { await app.close() })

interface Request { readonly body?: string, readonly contentType?: string | null, readonly method?: 'GET' | 'POST', readonly path?: string }

/** One request to the app; Content-Type application/json unless said (null: none). */
async function send ({ body, contentType = 'application/json', method = 'POST', path = '/mutate' }: Request): Promise<{ status: number, body: string }> {
  const res = await app.inject({
    method,
    url: path,
    headers: contentType === null ? {} : { 'content-type': contentType },
    ...(body === undefined ? {} : { payload: body }),
  })
  return { status: res.statusCode, body: res.body }
}

const errorOf = (body: string): string => (JSON.parse(body) as { message: string }).message

test('the review is not kept on the request, which outlives the handler until the answer is written', async () => {
  const leaf = await loopbackServer(await testAuthority())
  const config = parsedConfig(EXAMPLE_CONFIG)
  const own = createApp({ certificate: servingCertificate(leaf.cert, leaf.key, 'test'), config: () => config, metrics: createMetrics(), log: pino({ level: 'silent' }), draining: () => false })
  const left: unknown[] = []
  own.addHook('onResponse', (request, _reply, done) => { left.push(request.body); done() })
  await own.ready()
  try {
    const res = await own.inject({ method: 'POST', url: '/mutate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(deploymentReview()) })
    assert.equal(res.statusCode, 200, res.body)
    assert.deepEqual(left, [undefined])
  } finally {
    await own.close()
  }
})

describe('POST /mutate', () => {
  const noUid = deploymentReview()
  delete noUid.request['uid']
  const badBodies: [string, string, RegExp][] = [
    ['not JSON', '{"apiVersion": "admission.k8s.io/v1", ', /not valid JSON/],
    ['an empty body', '', /not valid JSON/],
    ['a JSON array', '[]', /not a JSON object/],
    ['a JSON string', '"AdmissionReview"', /not a JSON object/],
    ['another kind', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: {} }), /kind is not AdmissionReview/],
    ['another apiVersion', JSON.stringify({ ...deploymentReview(), apiVersion: 'admission.k8s.io/v2' }), /apiVersion/],
    ['a review without request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /request is missing/],
    ['a request without uid', JSON.stringify(noUid), /request\.uid is missing/],
    ['a request without kind', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'x', operation: 'CREATE' } }), /request\.kind/],
  ]
  for (const [what, body, reason] of badBodies) {
    test(`400 for ${what}, with a short reason`, async () => {
      const res = await send({ body })
      assert.equal(res.status, 400)
      assert.match(errorOf(res.body), reason)
      assert.ok(res.body.length < 200, res.body)
    })
  }

  test('415 for a wrong or missing content type', async (t) => {
    const body = JSON.stringify(deploymentReview())
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/yaml', 'application/json-patch+json', '']) {
      await t.test(JSON.stringify(contentType), async () => {
        const res = await send({ body, contentType })
        assert.equal(res.status, 415, contentType)
        assert.match(errorOf(res.body), /application\/json/)
      })
    }
    await t.test('none, with a body', async () => { assert.equal((await send({ body, contentType: null })).status, 415) })
    await t.test('none, without a body', async () => { assert.equal((await send({ contentType: null })).status, 415) })
  })

  test('other paths and methods are 404', async () => {
    assert.equal((await send({ method: 'GET' })).status, 404)
    assert.equal((await send({ body: '{}', path: '/validate' })).status, 404)
  })
})
