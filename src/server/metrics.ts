// The webhook's Prometheus metrics (docs/design.md "Protocol (webhook)"), in a registry of their
// own so that tests and several servers in one process never share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Result } from '../core/review.ts'

/** `kind` label of a request that could not be read as an AdmissionReview. */
export const UNKNOWN = 'unknown'

// Label values come from the request body: anything outside these sets is counted as
// "other", so that no client can grow the number of series without bound.
const KINDS: ReadonlySet<string> = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'])
const OPERATIONS: ReadonlySet<string> = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT'])

export interface Metrics {
  readonly registry: Registry
  /** One answered POST /mutate: `seconds` from reading the body to sending the answer. */
  admission: (kind: string, operation: string, result: Result, seconds?: number) => void
  configReload: (result: 'success' | 'failure') => void
  servingCertificateExpiry: (notAfter: Date) => void
}

export function createMetrics (): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const requests = new Counter({
    name: 'egress_mtls_admission_requests_total',
    help: 'AdmissionReviews answered, by workload kind, operation and result (injected, unchanged, skipped, denied, error).',
    labelNames: ['kind', 'operation', 'result'] as const,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'egress_mtls_admission_duration_seconds',
    help: 'Time to answer an AdmissionReview, from parsing its body to sending the answer.',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  })
  const reloads = new Counter({
    name: 'egress_mtls_config_reloads_total',
    help: 'Configuration file reloads, by result (success, failure: the last good configuration is kept).',
    labelNames: ['result'] as const,
    registers: [registry],
  })
  const expiry = new Gauge({
    name: 'egress_mtls_serving_certificate_expiry_timestamp_seconds',
    help: 'Expiry (notAfter, Unix seconds) of the serving certificate currently served.',
    registers: [registry],
  })
  // Both series exist from the start, so that rate() and alerts see the first failure.
  reloads.inc({ result: 'success' }, 0)
  reloads.inc({ result: 'failure' }, 0)
  return {
    registry,
    admission (kind, operation, result, seconds) {
      requests.inc({
        kind: KINDS.has(kind) ? kind : kind === UNKNOWN ? UNKNOWN : 'other',
        operation: OPERATIONS.has(operation) ? operation : operation === UNKNOWN ? UNKNOWN : 'other',
        result,
      })
      if (seconds !== undefined) duration.observe(seconds)
    },
    configReload (result) { reloads.inc({ result }) },
    servingCertificateExpiry (notAfter) { expiry.set(notAfter.getTime() / 1000) },
  }
}
