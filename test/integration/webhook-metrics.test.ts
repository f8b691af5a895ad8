// The side port: /healthz, /readyz and the Prometheus metrics of docs/design.md, counted as
// reviews are answered.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { AdmissionRequest } from '../../src/core/admission.ts'
import { parseConfig } from '../../src/core/config.ts'
import { admit } from '../../src/core/review.ts'
import { deploymentReview, EXAMPLE_CONFIG, get, notAfterSeconds, post, sample, scrape, startTestWebhook, type TestWebhook } from './helpers.ts'

const REQUESTS = 'egress_mtls_admission_requests_total'
const DURATION = 'egress_mtls_admission_duration_seconds'
let t: TestWebhook
before(async () => { t = await startTestWebhook() })
after(async () => { await t.webhook.close() })

test('/healthz and /readyz answer 200 while serving; other paths 404', async () => {
  assert.deepEqual(await get(t.webhook.metricsPort, '/healthz'), { status: 200, body: 'ok\n' })
  assert.deepEqual(await get(t.webhook.metricsPort, '/readyz'), { status: 200, body: 'ok\n' })
  assert.equal((await get(t.webhook.metricsPort, '/mutate')).status, 404)
})

test('/metrics has the process metrics and the serving certificate expiry', async () => {
  const text = await scrape(t.webhook.metricsPort)
  assert.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined, 'default process metrics')
  assert.match(text, /^nodejs_eventloop_lag_seconds /m)
  assert.equal(sample(text, 'egress_mtls_serving_certificate_expiry_timestamp_seconds'), notAfterSeconds(t.leaf.cert))
})

test('reviews are counted by kind, operation and result; bad requests as errors of kind unknown', async () => {
  const request = deploymentReview().request as unknown as AdmissionRequest
  const result = admit(request, parseConfig(EXAMPLE_CONFIG)).result
  const labels = { kind: 'Deployment', operation: 'CREATE', result }
  const unknown = { kind: 'unknown', operation: 'unknown', result: 'error' }
  const before = await scrape(t.webhook.metricsPort)
  const count = (text: string, l: Record<string, string>): number => sample(text, REQUESTS, l) ?? 0

  for (let i = 0; i < 3; i++) assert.equal((await post(t.webhook.port, JSON.stringify(deploymentReview()), { ca: t.ca.cert })).status, 200)
  const widget = deploymentReview()
  widget.request['kind'] = { group: 'example.com', version: 'v1', kind: 'Widget' }
  widget.request['operation'] = 'PATCH'
  assert.equal((await post(t.webhook.port, JSON.stringify(widget), { ca: t.ca.cert })).status, 200)
  assert.equal((await post(t.webhook.port, '{"kind":', { ca: t.ca.cert })).status, 400)
  assert.equal((await post(t.webhook.port, '{}', { ca: t.ca.cert })).status, 400)
  assert.equal((await post(t.webhook.port, '{}', { ca: t.ca.cert, contentType: 'text/plain' })).status, 415)

  const after = await scrape(t.webhook.metricsPort)
  assert.equal(count(after, labels) - count(before, labels), 3)
  // Label values from the body are bounded: an unexpected kind or operation is "other".
  const other = { kind: 'other', operation: 'other', result: admit(widget.request as unknown as AdmissionRequest, parseConfig(EXAMPLE_CONFIG)).result }
  assert.equal(count(after, other) - count(before, other), 1)
  assert.doesNotMatch(after, /Widget|PATCH/)
  assert.equal(count(after, unknown) - count(before, unknown), 3)
  // Every answered review is timed, in buckets fit for sub-millisecond answers.
  assert.equal((sample(after, `${DURATION}_count`) ?? 0) - (sample(before, `${DURATION}_count`) ?? 0), 4)
  assert.ok(sample(after, `${DURATION}_bucket`, { le: '0.0001' }) !== undefined)
  assert.equal(sample(after, `${DURATION}_bucket`, { le: '+Inf' }), sample(after, `${DURATION}_count`))
})

test('one debug line per review, without the object', async () => {
  const from = t.logs.entries.length
  const review = deploymentReview('log-uid')
  assert.equal((await post(t.webhook.port, JSON.stringify(review), { ca: t.ca.cert })).status, 200)
  const line = await t.logs.waitFor((e) => e['uid'] === 'log-uid', 2000, from)
  assert.equal(line.level, 20)
  assert.equal(line.msg, 'review')
  assert.deepEqual(
    { kind: line['kind'], namespace: line['namespace'], name: line['name'], operation: line['operation'] },
    { kind: 'Deployment', namespace: 'payments', name: 'shop', operation: 'CREATE' },
  )
  assert.equal(typeof line['result'], 'string')
  assert.equal(typeof line['ms'], 'number')
  const lines = t.logs.entries.slice(from)
  assert.equal(lines.length, 1, JSON.stringify(lines))
  assert.doesNotMatch(JSON.stringify(lines), /registry\.example|containers|"object"/)
})
