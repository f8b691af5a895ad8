// The cost of a review grows with the bytes a tenant sends, not faster (issue 25, "CPU
// amplification"): a map-form userVolume of ~20,000 entries, or ~50,000 unknown names in
// egress-mtls.io/targets, costs per byte what a small one does. Timings are compared with
// each other within one run (CPU time of the thread, the least of several rounds, against
// GC and a busy machine), never with an absolute figure; the bounds are generous, a
// quadratic step or a message built per name exceeds them several times over.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import fc from 'fast-check'

import { mutatePodTemplate } from '../../src/core/admission/mutate.ts'
import { decide } from '../../src/core/admission/policy.ts'
import { editUserVolumes, parseUserVolumes, type UserVolumes } from '../../src/core/admission/user-volumes.ts'
import { resolvedConfig } from '../support/config.ts'

const config = resolvedConfig({
  annotationFormat: 'map',
  targets: [
    { name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'] },
    { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['payments'] },
  ],
})

/**
 * CPU time of this thread, in milliseconds: what the code costs, not the time other
 * processes of a busy machine take from it (nor GC helper threads).
 */
function cpuMs (): number {
  const { user, system } = process.threadCpuUsage()
  return (user + system) / 1000
}

/** CPU milliseconds per call of f: the least of 5 rounds, each calling f for at least 30 ms (the clock counts in ticks). */
function cost (f: () => unknown): number {
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < 5; round++) {
    const start = cpuMs()
    let calls = 0
    let spent = 0
    do {
      f()
      calls++
      spent = cpuMs() - start
    } while (spent < 30)
    best = Math.min(best, spent / calls)
  }
  return best
}

/**
 * A measured ratio, measured again (up to three times in all) while it is not under
 * `bound`: a burst of load elsewhere on the machine skews one measurement, while a
 * superlinear cost exceeds the bound every time.
 */
function under (bound: number, measure: () => number): number {
  let best = measure()
  for (let i = 1; i < 3 && best >= bound; i++) best = Math.min(best, measure())
  return best
}

/** Cost per byte of the big input over that of the small one (1: flat). */
function perByteGrowth (small: string, big: string, f: (text: string) => unknown): number {
  return (cost(() => f(big)) / big.length) / (cost(() => f(small)) / small.length)
}

/** A namespace offering 20 targets: a warning about the targets annotation lists them all. */
const manyTargets = resolvedConfig({
  targets: Array.from({ length: 20 }, (_, i) => ({ name: i < 2 ? ['bank-api', 'tax-gw01'][i] : `target-${i}`, host: `t${i}.example.com`, namespaces: ['payments'] })),
})

/** Entries of one shape (a name prefix and a volume body), `count` of them, as a map-form value. */
function mapValue (prefix: string, body: string, count: number, ours: number): string {
  const entries = Array.from({ length: count }, (_, i) => `"${prefix}${i}":${body}`)
  // Entries of ours for targets no longer wanted, spread through the value: removed by the edit.
  for (let k = 0; k < ours; k++) entries.splice(Math.floor((k * count) / ours), 0, `"egress-mtls-old${k}":{"emptyDir":{}}`)
  return `{${entries.join(', ')}}`
}

const shapeArb = fc.record({
  prefix: fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/),
  body: fc.constantFrom('{}', '{"emptyDir":{}}', '{"configMap":{"name":"c"}}', '{"secret":{"secretName":"s","defaultMode":420}}'),
})

test('a map-form userVolume: editing it costs the same per byte at n and 4n entries', () => {
  fc.assert(fc.property(shapeArb, ({ prefix, body }) => {
    // 4n entries stay under the 256 KiB an annotation value may have.
    const perEntry = prefix.length + body.length + 10
    const n = Math.floor(240 * 1024 / perEntry / 4)
    const small = mapValue(prefix, body, n, 8)
    const big = mapValue(prefix, body, 4 * n, 8)
    const injected = { 'egress-mtls.io/injected': Array.from({ length: 8 }, (_, k) => `old${k}`).join(',') }
    const read = (text: string): UserVolumes => {
      const r = parseUserVolumes(text)
      assert.ok(r.ok)
      return r.value
    }
    // Ours removed, the user's kept as written.
    const edit = (value: UserVolumes): string => editUserVolumes(value, value.entries.map((e) => e.name.startsWith('egress-mtls-') ? undefined : e), [])
    const [smallValue, bigValue] = [read(small), read(big)]
    const editing = under(2.5, () => (cost(() => edit(bigValue)) / big.length) / (cost(() => edit(smallValue)) / small.length))
    assert.ok(editing < 2.5, `editing: ${editing.toFixed(2)} times the cost per byte at 4n entries (${n} -> ${4 * n})`)
    const parsing = under(2.5, () => perByteGrowth(small, big, read))
    assert.ok(parsing < 2.5, `parsing: ${parsing.toFixed(2)} times the cost per byte at 4n entries (${n} -> ${4 * n})`)
    const mutate = (text: string): unknown => mutatePodTemplate(['spec', 'template'], { exists: true, annotations: { ...injected, 'sidecar.istio.io/userVolume': text } }, config.targets, config)
    const mutation = under(3, () => perByteGrowth(small, big, mutate))
    assert.ok(mutation < 3, `the whole mutation: ${mutation.toFixed(2)} times the cost per byte at 4n entries (${n} -> ${4 * n})`)
  }), { numRuns: 3 })
})

test('egress-mtls.io/targets: unknown names cost about what known ones of the same length do, ten warnings built', () => {
  fc.assert(fc.property(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), fc.integer({ min: 0, max: 3 }), (prefix, spaces) => {
    const pad = ' '.repeat(spaces)
    const count = Math.floor(240 * 1024 / (prefix.length + spaces + 7))
    const unknown = Array.from({ length: count }, (_, i) => `${pad}${prefix}${i}`).join(',')
    // As many bytes of names that are all available (repeated): no warning at all.
    const known = Array.from({ length: Math.ceil(unknown.length / 9) }, (_, i) => i % 2 === 0 ? 'bank-api' : 'tax-gw01').join(',').slice(0, unknown.length)
    const decideWith = (names: string): ReturnType<typeof decide> => decide(manyTargets, 'payments', { 'egress-mtls.io/inject': 'true' }, { 'egress-mtls.io/targets': names })
    const warnings = decideWith(unknown).warnings
    assert.equal(warnings.length, 10)
    assert.equal(warnings[9]?.text, `annotation egress-mtls.io/targets: ${count - 9} more names that are not available`)
    const ratio = under(8, () => cost(() => decideWith(unknown)) / cost(() => decideWith(known)))
    assert.ok(ratio < 8, `${count} unknown names cost ${ratio.toFixed(2)} times as many known ones of the same length`)
  }), { numRuns: 3 })
})
