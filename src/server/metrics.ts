// The webhook's Prometheus metrics (docs/design.md "Protocol (webhook)"), in a registry of their
// own so that tests and several servers in one process never share counters.
import { collectDefaultMetrics, Counter, Gauge, type Metric, Registry } from 'prom-client'

import type { Outcome } from '../core/admission/admit.ts'
import { VERSION } from '../version.ts'

/** `kind` label of a request that could not be read as an AdmissionReview. */
export const UNKNOWN = 'unknown'

// Label values come from the request body: anything outside these sets is counted as
// "other", so that no client can grow the number of series without bound.
const KINDS: ReadonlySet<string> = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'])
const RESULTS: readonly Outcome[] = ['injected', 'removed', 'unchanged', 'skipped', 'denied', 'error']
// The label values of each dimension, "other" first; a review's counter is found by their positions.
const KIND_LABELS: readonly string[] = ['other', UNKNOWN, ...KINDS]
const OPERATION_LABELS: readonly string[] = ['other', UNKNOWN, 'CREATE', 'UPDATE', 'DELETE', 'CONNECT']
const OTHER_SLOT = 0
const slots = (values: readonly string[]): ReadonlyMap<string, number> => new Map(values.map((v, i) => [v, i]))
const KIND_SLOT = slots(KIND_LABELS)
const OPERATION_SLOT = slots(OPERATION_LABELS)
const RESULT_SLOT = slots(RESULTS)

/**
 * Requests and connections turned away before any review was read (not admission errors):
 * HTTP 400 (not a review), 404, 413, 415 and 431; 408 when headers or body arrive too
 * slowly; 503 when the memory for bodies in flight is spent (body_budget); bodies cut short
 * by a client that went away (client_closed); TLS handshakes that time out or fail;
 * connections refused at the cap, or at the cap per client address.
 */
export const REJECTIONS = [
  'bad_request', 'not_found', 'payload_too_large', 'unsupported_media_type', 'headers_too_large',
  'request_timeout', 'body_budget', 'client_closed', 'tls_handshake_timeout', 'tls_handshake_failed',
  'connection_limit', 'source_connection_limit',
] as const
export type Rejection = typeof REJECTIONS[number]

export interface Metrics {
  readonly registry: Registry
  /** One answered POST /mutate: `seconds` from reading the body to sending the answer. */
  admission: (kind: string, operation: string, result: Outcome, seconds?: number, dryRun?: boolean) => void
  rejection: (reason: Rejection) => void
  /** Where egress_mtls_requests_in_flight reads the number of requests whose answer is not sent yet, at each scrape. */
  countInFlight: (count: () => number) => void
  /** A configuration load: the first one at start (`counted` false) or a reload. */
  configLoad: (result: 'success' | 'failure', counted: boolean) => void
  /** Where egress_mtls_request_body_bytes reads the bytes of request bodies held, at each scrape. */
  countBodyBytes: (held: () => number) => void
  /** Where egress_mtls_open_connections reads the webhook port's connection count from, at each scrape. */
  countConnections: (count: () => Promise<number>) => void
  servingCertificateExpiry: (notAfter: Date) => void
}

export function createMetrics (): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  // Reviews are counted in plain numbers, one per label set, and added to the counter at each
  // scrape: prom-client's inc() hashes and checks its labels on every call (and a key string
  // per review would be built and hashed), a scrape is rarer than a review.
  const answered = new Float64Array(KIND_LABELS.length * OPERATION_LABELS.length * RESULTS.length * 2)
  const requests = new Counter({
    name: 'egress_mtls_admission_requests_total',
    help: 'AdmissionReviews answered, by workload kind, operation, result (injected, removed, unchanged, skipped, denied, error) and dry_run.',
    labelNames: ['kind', 'operation', 'result', 'dry_run'] as const,
    registers: [registry],
    collect () {
      answered.forEach((n, slot) => {
        if (n === 0) return
        answered[slot] = 0
        const result = RESULTS[Math.floor(slot / 2) % RESULTS.length]
        const operation = OPERATION_LABELS[Math.floor(slot / (2 * RESULTS.length)) % OPERATION_LABELS.length]
        const kind = KIND_LABELS[Math.floor(slot / (2 * RESULTS.length * OPERATION_LABELS.length))]
        if (result !== undefined && operation !== undefined && kind !== undefined) this.inc({ kind, operation, result, dry_run: slot % 2 === 1 ? 'true' : 'false' }, n)
      })
    },
  })
  const observeDuration = histogramByResult(
    registry,
    'egress_mtls_admission_duration_seconds',
    'Time to answer an AdmissionReview, from parsing its body to sending the answer, by result.',
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  )
  const rejections = new Counter({
    name: 'egress_mtls_http_rejections_total',
    help: 'Requests and connections turned away before a review was read, by reason (not counted as admission errors).',
    labelNames: ['reason'] as const,
    registers: [registry],
  })
  // Read at each scrape rather than counted per request: a scrape is rarer than a review.
  let inFlightCount = (): number => 0
  new Gauge({
    name: 'egress_mtls_requests_in_flight',
    help: 'Requests on the webhook port whose headers arrived and whose answer is not sent yet.',
    registers: [registry],
    collect () { this.set(inFlightCount()) },
  })
  let bodyBytes = (): number => 0
  new Gauge({
    name: 'egress_mtls_request_body_bytes',
    help: 'Bytes of request bodies held in memory on the webhook port (received, not yet answered); beyond the budget, bodies are refused with 503.',
    registers: [registry],
    collect () { this.set(bodyBytes()) },
  })
  let connectionCount = (): Promise<number> => Promise.resolve(0)
  new Gauge({
    name: 'egress_mtls_open_connections',
    help: 'Open connections on the webhook port, TLS handshakes included (the cap is serve --max-connections).',
    registers: [registry],
    async collect () { this.set(await connectionCount()) },
  })
  const reloads = new Counter({
    name: 'egress_mtls_config_reloads_total',
    help: 'Configuration file reloads, by result (success, failure: the last good configuration is kept).',
    labelNames: ['result'] as const,
    registers: [registry],
  })
  const lastReloadOk = new Gauge({
    name: 'egress_mtls_config_last_reload_successful',
    help: '1 if the last configuration load (at start or on a change) succeeded, 0 if it failed and the last good configuration is kept.',
    registers: [registry],
  })
  const lastReloadTime = new Gauge({
    name: 'egress_mtls_config_last_reload_timestamp_seconds',
    help: 'When the last configuration load (at start or on a change) was attempted, Unix seconds.',
    registers: [registry],
  })
  const expiry = new Gauge({
    name: 'egress_mtls_serving_certificate_expiry_timestamp_seconds',
    help: 'Expiry (notAfter, Unix seconds) of the serving certificate currently served.',
    registers: [registry],
  })
  const buildInfo = new Gauge({
    name: 'egress_mtls_build_info',
    help: 'Always 1; the version label is the version of egress-mtls running.',
    labelNames: ['version'] as const,
    registers: [registry],
  })
  buildInfo.set({ version: VERSION }, 1)
  // Every series exists from the start, so that rate() and alerts see the first event.
  for (const result of ['success', 'failure'] as const) reloads.inc({ result }, 0)
  for (const reason of REJECTIONS) rejections.inc({ reason }, 0)
  // Every kind, operation, result and dry_run value in at least one series (the operations
  // that admission reviews; DELETE and CONNECT appear once seen).
  for (const kind of KINDS) {
    for (const operation of ['CREATE', 'UPDATE']) {
      for (const result of RESULTS) for (const dryRun of ['false', 'true']) requests.inc({ kind, operation, result, dry_run: dryRun }, 0)
    }
  }
  requests.inc({ kind: 'other', operation: 'other', result: 'skipped', dry_run: 'false' }, 0)
  for (const operation of ['DELETE', 'CONNECT']) requests.inc({ kind: 'other', operation, result: 'skipped', dry_run: 'false' }, 0)
  requests.inc({ kind: UNKNOWN, operation: UNKNOWN, result: 'error', dry_run: 'false' }, 0)
  return {
    registry,
    admission (kind, operation, result, seconds, dryRun = false) {
      const k = KIND_SLOT.get(kind) ?? OTHER_SLOT
      const o = OPERATION_SLOT.get(operation) ?? OTHER_SLOT
      const r = RESULT_SLOT.get(result) ?? 0
      const slot = ((k * OPERATION_LABELS.length + o) * RESULTS.length + r) * 2 + (dryRun ? 1 : 0)
      answered[slot] = (answered[slot] ?? 0) + 1
      if (seconds !== undefined) observeDuration(result, seconds)
    },
    rejection (reason) { rejections.inc({ reason }) },
    configLoad (result, counted) {
      if (counted) reloads.inc({ result })
      lastReloadOk.set(result === 'success' ? 1 : 0)
      lastReloadTime.set(Date.now() / 1000)
    },
    countConnections (count) { connectionCount = count },
    countInFlight (count) { inFlightCount = count },
    countBodyBytes (held) { bodyBytes = held },
    servingCertificateExpiry (notAfter) { expiry.set(notAfter.getTime() / 1000) },
  }
}

/**
 * A Prometheus histogram by `result` (every result's series from the start), observed with a
 * few additions: prom-client's Histogram checks and hashes its labels on every observe(), here
 * once per review. Exposed as prom-client exposes its own (cumulative `le` buckets, +Inf, sum, count).
 */
function histogramByResult (
  registry: Registry, name: string, help: string, buckets: readonly number[],
): (result: Outcome, seconds: number) => void {
  const series = new Map(RESULTS.map((result) => [result, { counts: buckets.map(() => 0), sum: 0, count: 0 }]))
  interface Sample { metricName: string, labels: Record<string, string | number>, value: number }
  const values = (): Sample[] => [...series].flatMap(([result, s]) => {
    let below = 0
    return [
      ...buckets.map((le, i) => ({ metricName: `${name}_bucket`, labels: { le, result }, value: below += s.counts[i] ?? 0 })),
      { metricName: `${name}_bucket`, labels: { le: '+Inf', result }, value: s.count },
      { metricName: `${name}_sum`, labels: { result }, value: s.sum },
      { metricName: `${name}_count`, labels: { result }, value: s.count },
    ]
  })
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: () => Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values: values() }),
    reset: () => { for (const s of series.values()) { s.counts.fill(0); s.sum = 0; s.count = 0 } },
  }
  // The registry reads only these members (name, help, type, get) of a metric.
  registry.registerMetric(metric as unknown as Metric)
  return (result, seconds) => {
    const s = series.get(result)
    if (s === undefined) return
    let i = 0
    while (i < buckets.length && seconds > (buckets[i] ?? Infinity)) i++
    if (i < buckets.length) s.counts[i] = (s.counts[i] ?? 0) + 1
    s.sum += seconds
    s.count++
  }
}
