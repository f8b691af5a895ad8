import assert from 'node:assert/strict'
import { test } from 'node:test'

import fc from 'fast-check'
import { Counter, Histogram, Registry } from 'prom-client'

import type { Outcome } from '../../src/core/admission/admit.ts'
import { createMetrics } from '../../src/server/metrics.ts'

const DURATION = 'egress_mtls_admission_duration_seconds'
const REQUESTS = 'egress_mtls_admission_requests_total'
const RESULTS: readonly Outcome[] = ['injected', 'removed', 'unchanged', 'skipped', 'denied', 'error']

interface Review {
  readonly kind: string
  readonly operation: string
  readonly result: Outcome
  readonly seconds: number
  readonly dryRun: boolean
}
const reviewArb: fc.Arbitrary<Review> = fc.record({
  kind: fc.constantFrom('Deployment', 'Job', 'Widget', 'unknown'),
  operation: fc.constantFrom('CREATE', 'UPDATE', 'PATCH', 'unknown'),
  result: fc.constantFrom(...RESULTS),
  // Bucket bounds themselves included: a bound is "less than or equal".
  seconds: fc.oneof(fc.double({ min: 0, max: 3, noNaN: true }), fc.constantFrom(0.0001, 0.001, 1)),
  dryRun: fc.boolean(),
})

// The webhook keeps its own counts (prom-client hashes labels on every inc() and observe());
// what a scrape shows must be what prom-client's own Counter and Histogram would show.
test('reviews counted and timed in plain numbers scrape exactly as prom-client counts and times them', async () => {
  await fc.assert(fc.asyncProperty(fc.array(reviewArb, { maxLength: 40 }), async (reviews) => {
    const metrics = createMetrics()
    const registry = new Registry()
    const histogram = new Histogram({
      name: DURATION,
      help: 'Time to answer an AdmissionReview, from parsing its body to sending the answer, by result.',
      labelNames: ['result'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    })
    const counter = new Counter({ name: REQUESTS, help: 'x', labelNames: ['kind', 'operation', 'result', 'dry_run'], registers: [registry] })
    for (const result of RESULTS) histogram.zero({ result })
    const lines = async (r: Registry, name: string): Promise<string[]> => (await r.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#')).sort()
    const before = await lines(metrics.registry, REQUESTS)
    for (const r of reviews) {
      metrics.admission(r.kind, r.operation, r.result, r.seconds, r.dryRun)
      histogram.observe({ result: r.result }, r.seconds)
      counter.inc({
        kind: ['Deployment', 'Job', 'unknown'].includes(r.kind) ? r.kind : 'other',
        operation: ['CREATE', 'UPDATE', 'unknown'].includes(r.operation) ? r.operation : 'other',
        result: r.result,
        dry_run: String(r.dryRun),
      })
    }
    assert.equal(await metrics.registry.getSingleMetricAsString(DURATION), await registry.getSingleMetricAsString(DURATION))
    // The counter's series that moved, with their counts (the webhook's also start at 0).
    const after = await lines(metrics.registry, REQUESTS)
    const moved = after.filter((l) => !before.includes(l))
    assert.deepEqual(moved, (await lines(registry, REQUESTS)))
    // A second scrape adds nothing.
    assert.deepEqual(await lines(metrics.registry, REQUESTS), after)
  }), { numRuns: 100 })
})
