// admit() in a loop, in this process: the cost of the decision itself, without TLS, HTTP
// or JSON parsing of the body. `hit`: the same review again and again (the memo of
// mutations answers, as for most real reviews); `miss`: every review's pod template carries
// a different user volume, so each one is parsed and rewritten. And the body of (a) to JSON
// as the webhook reads it (oldObject and managedFields checked, not parsed) against JSON.parse of all of it.
//
//   node scripts/bench/admit.ts [--ms 1000]
import { parseArgs } from 'node:util'

import { type AdmissionRequest, parseReview } from '../../src/core/admission/admission-review.ts'
import { admit } from '../../src/core/admission/admit.ts'
import { reviewBodyJson } from '../../src/core/admission/review-body.ts'
import { parsedConfig } from '../../test/support/config.ts'
import { BENCH_CONFIG, hostileCreate, type JsonObject, labelledUpdate, unlabelledCreate } from '../../test/support/reviews.ts'

function request (review: JsonObject): AdmissionRequest {
  const parsed = parseReview(JSON.parse(JSON.stringify(review)))
  if (!parsed.ok) throw new Error(parsed.error)
  return parsed.value.request
}

/** CPU microseconds per admit() over about `ms` milliseconds of CPU, cycling through `requests`. */
function measure (requests: readonly AdmissionRequest[], ms: number, batch = 500): number {
  const config = parsedConfig(BENCH_CONFIG, 'bench-config.yaml')
  for (let i = 0; i < Math.min(2000, batch * 4); i++) admit(requests[i % requests.length]!, config)
  // CPU time of this process, not wall time: on a shared machine, other processes' load
  // stretches the wall clock, much less the CPU time a loop uses.
  let n = 0
  const started = process.cpuUsage()
  let elapsed = 0
  while (elapsed < ms * 1000) {
    for (let i = 0; i < batch; i++, n++) admit(requests[n % requests.length]!, config)
    const used = process.cpuUsage(started)
    elapsed = used.user + used.system
  }
  return elapsed / n
}

/** A labelled UPDATE whose user volume differs per copy: the memo never answers. */
function missVariants (count: number): AdmissionRequest[] {
  return Array.from({ length: count }, (_, i) => {
    const r = labelledUpdate()
    const object = (r['request'] as JsonObject)['object'] as JsonObject
    const meta = ((object['spec'] as JsonObject)['template'] as JsonObject)['metadata'] as JsonObject
    ;(meta['annotations'] as JsonObject)['sidecar.istio.io/userVolume'] = JSON.stringify({ [`ledger-ca-${i}`]: { configMap: { name: 'ledger-ca', defaultMode: 420 } }, scratch: { emptyDir: { sizeLimit: '1Gi' } } })
    return request(r)
  })
}

/** CPU microseconds per call of `f` over about `ms` milliseconds of CPU, cycling through `inputs`. */
function perCall<T> (inputs: readonly T[], f: (input: T) => unknown, ms: number, batch = 200): number {
  for (let i = 0; i < batch * 4; i++) f(inputs[i % inputs.length]!)
  let n = 0
  const started = process.cpuUsage()
  let elapsed = 0
  while (elapsed < ms * 1000) {
    for (let i = 0; i < batch; i++, n++) f(inputs[n % inputs.length]!)
    const used = process.cpuUsage(started)
    elapsed = used.user + used.system
  }
  return elapsed / n
}

export interface BodyFigures { readonly whole: number, readonly unparsed: number }

/** (a)'s body (bytes) to JSON: decoded and JSON.parse'd whole, and as the webhook does it; rounds interleaved, medians. */
export function bodyMicro (ms = 1000, rounds = 5): BodyFigures {
  const bodies = Array.from({ length: 8 }, () => Buffer.from(JSON.stringify(labelledUpdate())))
  const whole: number[] = []
  const unparsed: number[] = []
  for (let r = 0; r < rounds; r++) {
    whole.push(perCall(bodies, (b) => JSON.parse(b.toString('utf8')), ms / rounds))
    unparsed.push(perCall(bodies, reviewBodyJson, ms / rounds))
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  return { whole: median(whole), unparsed: median(unparsed) }
}

export interface AdmitFigures { readonly hit: number, readonly skipped: number, readonly miss: number, readonly hostile: number }

export function admitMicro (ms = 1000): AdmitFigures {
  return {
    hit: measure([request(labelledUpdate())], ms),
    skipped: measure([request(unlabelledCreate())], ms),
    miss: measure(missVariants(4096), ms),
    hostile: measure([request(hostileCreate('deep-array'))], ms / 4, 1),
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { ms: { type: 'string', default: '1000' } } })
  const f = admitMicro(Number(values.ms))
  process.stdout.write(`admit() CPU µs per review: (a) labelled UPDATE, memo hit ${f.hit.toFixed(2)}; (b) unlabelled CREATE ${f.skipped.toFixed(2)}; ` +
    `(a) with a different user volume each time (memo miss) ${f.miss.toFixed(2)}; 2.9 MB [[[…]]] userVolume ${f.hostile.toFixed(2)}\n`)
  const b = bodyMicro(Number(values.ms))
  process.stdout.write(`(a)'s body to JSON, CPU µs: JSON.parse of all of it ${b.whole.toFixed(2)}; oldObject and managedFields checked, not parsed ${b.unparsed.toFixed(2)}\n`)
}
