// The metrics port (--metrics-listen): /healthz, /readyz and the Prometheus metrics of docs/design.md, counted as
// reviews are answered.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect } from 'node:tls'

import type { AdmissionRequest } from '../../src/core/admission/admission-review.ts'
import { admit } from '../../src/core/admission/admit.ts'
import { VERSION } from '../../src/version.ts'
import { parsedConfig } from '../support/config.ts'
import { httpGet, sample, scrape } from '../support/metrics-port.ts'
import { notAfterSeconds } from '../support/pki.ts'
import { deploymentReview, EXAMPLE_CONFIG, post, startTestWebhook, type TestWebhook } from '../support/webhook.ts'

const REQUESTS = 'egress_mtls_admission_requests_total'
const DURATION = 'egress_mtls_admission_duration_seconds'
const REJECTIONS = 'egress_mtls_http_rejections_total'
let t: TestWebhook
before(async () => { t = await startTestWebhook() })
after(async () => { await t.webhook.close() })

test('/healthz and /readyz answer 200 while serving; other paths 404', async () => {
  assert.deepEqual(await httpGet(t.webhook.metricsPort, '/healthz'), { status: 200, body: 'ok\n' })
  assert.deepEqual(await httpGet(t.webhook.metricsPort, '/readyz'), { status: 200, body: 'ok\n' })
  assert.equal((await httpGet(t.webhook.metricsPort, '/mutate')).status, 404)
})

test('/metrics has the process metrics and the serving certificate expiry', async () => {
  const text = await scrape(t.webhook.metricsPort)
  assert.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined, 'default process metrics')
  assert.match(text, /^nodejs_eventloop_lag_seconds /m)
  assert.equal(sample(text, 'egress_mtls_serving_certificate_expiry_timestamp_seconds'), notAfterSeconds(t.leaf.cert))
})

test('reviews are counted by kind, operation and result; requests that are no review as HTTP rejections, apart', async () => {
  const request = deploymentReview().request as unknown as AdmissionRequest
  const result = admit(request, parsedConfig(EXAMPLE_CONFIG)).result
  const labels = { kind: 'Deployment', operation: 'CREATE', result, dry_run: 'false' }
  const unknown = { kind: 'unknown', operation: 'unknown', result: 'error', dry_run: 'false' }
  const rejected = (text: string, reason: string): number => sample(text, REJECTIONS, { reason }) ?? 0
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
  assert.equal((await post(t.webhook.port, '{}', { ca: t.ca.cert, path: '/validate' })).status, 404)

  const after = await scrape(t.webhook.metricsPort)
  assert.equal(count(after, labels) - count(before, labels), 3)
  // Label values from the body are bounded: an unexpected kind or operation is "other".
  const other = { kind: 'other', operation: 'other', result: admit(widget.request as unknown as AdmissionRequest, parsedConfig(EXAMPLE_CONFIG)).result, dry_run: 'false' }
  assert.equal(count(after, other) - count(before, other), 1)
  assert.doesNotMatch(after, /Widget|PATCH/)
  // What was not a review is no admission error: it is counted by reason, apart.
  assert.equal(count(after, unknown) - count(before, unknown), 0)
  assert.deepEqual(
    ['bad_request', 'unsupported_media_type', 'not_found', 'payload_too_large'].map((r) => rejected(after, r) - rejected(before, r)),
    [2, 1, 1, 0],
  )
  // Every answered review is timed by result, in buckets fit for sub-millisecond answers.
  const timed = (text: string, r: string): number => sample(text, `${DURATION}_count`, { result: r }) ?? 0
  assert.notEqual(other.result, result)
  assert.equal(timed(after, result) - timed(before, result), 3)
  assert.equal(timed(after, other.result) - timed(before, other.result), 1)
  assert.ok(sample(after, `${DURATION}_bucket`, { le: '0.0001', result }) !== undefined)
  assert.equal(sample(after, `${DURATION}_bucket`, { le: '+Inf', result }), timed(after, result))
  // Every result and reason has its series from the start, so rate() and alerts see the first one.
  for (const r of ['injected', 'removed', 'unchanged', 'skipped', 'denied', 'error']) assert.ok(sample(after, `${DURATION}_count`, { result: r }) !== undefined, r)
  for (const r of ['request_timeout', 'tls_handshake_timeout', 'tls_handshake_failed', 'connection_limit', 'headers_too_large']) assert.ok(sample(after, REJECTIONS, { reason: r }) !== undefined, r)
})

test('an opt-out is counted as removed, not injected; a dry run apart; every label value has a series from the start', async () => {
  const fresh = await startTestWebhook()
  try {
    const first = await scrape(fresh.webhook.metricsPort)
    // Before any review: each result, kind, operation and dry_run value already counts 0.
    for (const result of ['injected', 'removed', 'unchanged', 'skipped', 'denied', 'error']) {
      for (const dryRun of ['false', 'true']) assert.equal(sample(first, REQUESTS, { kind: 'Deployment', operation: 'UPDATE', result, dry_run: dryRun }), 0, `${result} ${dryRun}`)
    }
    for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']) assert.equal(sample(first, REQUESTS, { kind, operation: 'CREATE', result: 'injected', dry_run: 'false' }), 0, kind)
    for (const reason of ['bad_request', 'body_budget', 'client_closed', 'source_connection_limit', 'request_timeout']) assert.equal(sample(first, REJECTIONS, { reason }), 0, reason)
    assert.equal(sample(first, 'egress_mtls_request_body_bytes'), 0)

    // Injected, then the same workload with the opt-in label removed: our keys come off.
    const injected = deploymentReview()
    const answered = await post(fresh.webhook.port, JSON.stringify(injected), { ca: fresh.ca.cert })
    const answer = JSON.parse(answered.body) as { response: { patch: string } }
    const applied = structuredClone(injected.request['object']) as { metadata: { labels: Record<string, string> }, spec: { template: { metadata: Record<string, unknown> } } }
    for (const op of JSON.parse(Buffer.from(answer.response.patch, 'base64').toString()) as { op: string, path: string, value: unknown }[]) {
      const keys = op.path.split('/').slice(1).map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'))
      let at = applied as unknown as Record<string, unknown>
      for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>
      at[keys.at(-1) ?? ''] = op.value
    }
    delete applied.metadata.labels['egress-mtls.io/inject']
    const optOut = deploymentReview()
    optOut.request['operation'] = 'UPDATE'
    optOut.request['object'] = applied
    optOut.request['oldObject'] = applied
    const removedAnswer = await post(fresh.webhook.port, JSON.stringify(optOut), { ca: fresh.ca.cert })
    const removed = JSON.parse(removedAnswer.body) as { response: { patch?: string } }
    assert.ok(removed.response.patch !== undefined, 'our keys are removed')
    const dry = deploymentReview()
    dry.request['dryRun'] = true
    assert.equal((await post(fresh.webhook.port, JSON.stringify(dry), { ca: fresh.ca.cert })).status, 200)

    const metrics = await scrape(fresh.webhook.metricsPort)
    assert.deepEqual([
      sample(metrics, REQUESTS, { kind: 'Deployment', operation: 'CREATE', result: 'injected', dry_run: 'false' }),
      sample(metrics, REQUESTS, { kind: 'Deployment', operation: 'UPDATE', result: 'removed', dry_run: 'false' }),
      sample(metrics, REQUESTS, { kind: 'Deployment', operation: 'UPDATE', result: 'injected', dry_run: 'false' }),
      sample(metrics, REQUESTS, { kind: 'Deployment', operation: 'CREATE', result: 'injected', dry_run: 'true' }),
    ], [1, 1, 0, 1])
  } finally {
    await fresh.webhook.close()
  }
})

test('the version as egress_mtls_build_info, and the configuration loaded at start as the last reload', async () => {
  const text = await scrape(t.webhook.metricsPort)
  assert.equal(sample(text, 'egress_mtls_build_info', { version: VERSION }), 1)
  assert.equal(sample(text, 'egress_mtls_config_last_reload_successful'), 1)
  const at = sample(text, 'egress_mtls_config_last_reload_timestamp_seconds') ?? 0
  assert.ok(at > Date.now() / 1000 - 600 && at <= Date.now() / 1000, String(at))
})

test('requests in flight: from their headers to their answer', async () => {
  const inFlight = async (): Promise<number | undefined> => sample(await scrape(t.webhook.metricsPort), 'egress_mtls_requests_in_flight')
  assert.equal(await inFlight(), 0)
  const body = JSON.stringify(deploymentReview('in-flight-uid'))
  const socket = connect({ host: '127.0.0.1', port: t.webhook.port, ca: t.ca.cert, servername: 'localhost' })
  await once(socket, 'secureConnect')
  let raw = ''
  socket.setEncoding('utf8').on('data', (c: string) => { raw += c })
  socket.write(`POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 50)}`)
  let seen: number | undefined
  for (let i = 0; i < 100 && seen !== 1; i++) { seen = await inFlight(); if (seen !== 1) await sleep(10) }
  assert.equal(seen, 1)
  socket.write(body.slice(50))
  while (!raw.includes('in-flight-uid')) await once(socket, 'data')
  socket.destroy()
  assert.equal(await inFlight(), 0)
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
