// The monitor's Prometheus metrics (docs/design.md "The monitor"): computed at each scrape
// from the rows the watches keep, so that `expired` and `not_yet_valid` follow the clock.
// Numbers and reason names only: no key material is ever exported.
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'

import { problemsAt, type Row } from '../core/tls/secret-reading.ts'
import { VERSION } from '../version.ts'

const LABELS = ['namespace', 'target', 'secret'] as const

export interface MonitorMetrics {
  readonly registry: Registry
}

/** `rows` is read at each scrape; `now` is the clock (tests pass their own). */
export function createMonitorMetrics (rows: () => Iterable<Row>, now: () => Date = () => new Date()): MonitorMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const seriesOf = (name: string, help: string, value: (r: Row) => number | undefined): void => {
    new Gauge({
      name,
      help,
      labelNames: LABELS,
      registers: [registry],
      collect () {
        this.reset()
        for (const r of rows()) {
          const v = value(r)
          if (v !== undefined) this.set({ namespace: r.namespace, target: r.target, secret: r.secret }, v)
        }
      },
    })
  }
  seriesOf('egress_mtls_client_certificate_not_after_timestamp_seconds',
    'The client certificate\'s notAfter (Unix seconds), per namespace, target and Secret.', (r) => r.reading.notAfter)
  seriesOf('egress_mtls_client_certificate_not_before_timestamp_seconds',
    'The client certificate\'s notBefore (Unix seconds), per namespace, target and Secret.', (r) => r.reading.notBefore)
  seriesOf('egress_mtls_client_ca_certificate_not_after_timestamp_seconds',
    'The notAfter (Unix seconds) of the earliest-expiring certificate of the Secret\'s cacert (the CAs that verify the server).', (r) => r.reading.caNotAfter)
  new Gauge({
    name: 'egress_mtls_client_secret_problem',
    help: '1 while a target\'s Secret has the problem named by reason (missing, unreadable, key_mismatch, expired, not_yet_valid); absent otherwise.',
    labelNames: [...LABELS, 'reason'] as const,
    registers: [registry],
    collect () {
      this.reset()
      const t = now()
      for (const r of rows()) {
        for (const reason of problemsAt(r.reading, t)) this.set({ namespace: r.namespace, target: r.target, secret: r.secret, reason }, 1)
      }
    },
  })
  new Gauge({
    name: 'egress_mtls_build_info',
    help: 'Always 1; the version label is the version of egress-mtls running.',
    labelNames: ['version'] as const,
    registers: [registry],
  }).set({ version: VERSION }, 1)
  return { registry }
}
