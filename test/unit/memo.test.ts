// The per-configuration memo of pure results, and the key under which admit() keeps a pod
// template's mutation: equal keys must mean equal mutations, or a review would get another
// workload's patch.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import fc from 'fast-check'

import { mutatePodTemplate, mutationKey, type TemplateMetadata } from '../../src/core/admission/mutate.ts'
import { memo } from '../../src/core/base/memo.ts'
import { resolvedConfig } from '../support/config.ts'

test('memo: computes once per key and configuration, and shares the result frozen', () => {
  const kept = memo<{ n: number[] }>(10, 100)
  const [one, two] = [{}, {}]
  let calls = 0
  const compute = () => ({ n: [++calls] })
  const first = kept(one, 'k', compute)
  assert.equal(kept(one, 'k', compute), first)
  assert.equal(calls, 1)
  assert.notEqual(kept(two, 'k', compute), first, 'another configuration computes afresh')
  assert.equal(calls, 2)
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.n))
  assert.throws(() => { first.n.push(3) }, TypeError)
})

test('memo: keeps at most `entries` results, dropping the oldest, and never keeps long keys', () => {
  const kept = memo<{ key: string }>(3, 5)
  const config = {}
  let calls = 0
  const get = (key: string) => kept(config, key, () => { calls++; return { key } })
  for (const key of ['a', 'b', 'c', 'd']) get(key)
  assert.equal(calls, 4)
  get('b'); get('c'); get('d')
  assert.equal(calls, 4, 'the three newest are kept')
  get('a')
  assert.equal(calls, 5, 'the oldest was dropped')
  get('toolong'); get('toolong')
  assert.equal(calls, 7, 'a key over the length limit is computed every time')
})

const config = resolvedConfig({
  targets: [
    { name: 'alpha', host: 'alpha.example.com', namespaces: ['*'] },
    { name: 'beta', host: 'beta.example.com', namespaces: ['*'], secretKeys: { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' } },
  ],
})

// Small pools, so that many random templates share a key: the inputs mutatePodTemplate reads
// (our annotations and egress-mtls.io/ labels) mixed with others it must not depend on.
const LABELS: Readonly<Record<string, readonly string[]>> = {
  'app': ['web', 'api'],
  'egress-mtls.io/alpha': ['true', 'false'],
  'egress-mtls.io/beta': ['true'],
  'egress-mtls.io/inject': ['true'],
}
const ANNOTATIONS: Readonly<Record<string, readonly string[]>> = {
  'sidecar.istio.io/userVolume': ['{}', '[]', '{"user":{"emptyDir":{}}}', 'not json', '[{"name":"egress-mtls-alpha","emptyDir":{}}]'],
  'sidecar.istio.io/userVolumeMount': ['{}', '{"user":{"mountPath":"/u"}}', '[{"name":"egress-mtls-beta","mountPath":"/x","readOnly":true}]'],
  'egress-mtls.io/injected': ['alpha', 'alpha,beta', ''],
  // egress-mtls's own values (tlsStats), and two of the user's whose content must not matter
  'proxy.istio.io/config': [
    '{"proxyStatsMatcher":{"inclusionRegexps":["cluster\\\\.outbound\\\\|[0-9]+\\\\|\\\\|alpha\\\\.example\\\\.com;\\\\.ssl\\\\..*"]}}',
    'concurrency: 2', 'holdApplicationUntilProxyStarts: true',
  ],
  'kubectl.kubernetes.io/restartedAt': ['2026-11-28T01:00:00Z', '2026-11-28T02:00:00Z'],
}

const mapArb = (pool: Readonly<Record<string, readonly string[]>>) => fc.option(
  fc.tuple(...Object.entries(pool).map(([k, values]) =>
    fc.option(fc.constantFrom(...values).map((v) => [k, v] as const), { nil: undefined })))
    .map((entries) => Object.fromEntries(entries.filter((e) => e !== undefined))),
  { nil: undefined },
)
const metaArb: fc.Arbitrary<TemplateMetadata> = fc.oneof(
  fc.constant({ exists: false }),
  fc.constant({ exists: true }),
  fc.record({ exists: fc.constant(true), labels: mapArb(LABELS), annotations: mapArb(ANNOTATIONS) }),
)
const caseArb = fc.record({
  path: fc.constantFrom(['spec', 'template'], ['spec', 'jobTemplate', 'spec', 'template']),
  targets: fc.subarray([...config.targets]),
  meta: metaArb,
})

// A template and its twin that differs in one label or annotation (set, changed or removed),
// or, for a template with no labels and no annotations, in having metadata at all.
const twinArb = fc.tuple(caseArb, fc.constantFrom(...Object.keys(LABELS).map((k) => ['labels', k] as const), ...Object.keys(ANNOTATIONS).map((k) => ['annotations', k] as const)), fc.nat())
  .map(([c, [field, key], n]) => {
    if (c.meta.labels === undefined && c.meta.annotations === undefined && n % 2 === 0) return { ...c, twin: { exists: !c.meta.exists } }
    const pool = field === 'labels' ? LABELS : ANNOTATIONS
    const values: (string | undefined)[] = [undefined, ...(pool[key] ?? [])]
    const value = values[n % values.length]
    const entries = Object.entries(c.meta[field] ?? {}).filter(([k]) => k !== key)
    if (value !== undefined) entries.push([key, value])
    const map = Object.fromEntries(entries)
    return { ...c, twin: { exists: true, labels: c.meta.labels, annotations: c.meta.annotations, [field]: map } }
  })

test('mutationKey: pod templates with one key get one mutation (the memo answers only what it would compute)', async (t) => {
  for (const c of [config, { ...config, tlsStats: true }]) {
    await t.test(`tlsStats ${String(c.tlsStats)}`, () => {
      let shared = 0
      let distinct = 0
      fc.assert(fc.property(twinArb, ({ path, targets, meta, twin }) => {
        const key = mutationKey(path, meta, targets)
        if (key !== mutationKey(path, twin, targets)) { distinct++; return }
        assert.deepEqual(mutatePodTemplate(path, twin, targets, c), mutatePodTemplate(path, meta, targets, c),
          `key ${key}: ${JSON.stringify(meta)} and ${JSON.stringify(twin)}`)
        if (JSON.stringify(meta) !== JSON.stringify(twin)) shared++
      }), { numRuns: 3000 })
      // Not vacuous: both outcomes happened many times.
      assert.ok(shared > 100 && distinct > 100, `${shared} twins shared a key, ${distinct} did not`)
    })
  }
})
