// Property-based tests (fast-check) of admit() over random configurations, workloads and
// pre-existing sidecar annotations in both Istio forms.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import fc from 'fast-check'

import type { AdmissionRequest } from '../../src/core/admission/admission-review.ts'
import { admit, type Outcome } from '../../src/core/admission/admit.ts'
import { applyPatch } from '../../src/core/admission/apply-patch.ts'
import { parseUserVolumes } from '../../src/core/admission/user-volumes.ts'
import { type Config } from '../../src/core/config/config.ts'
import { resolvedConfig } from '../support/config.ts'
import { KINDS as WORKLOAD_KINDS } from './kinds.ts'

const TARGETS = ['alpha', 'beta', 'gamma', 'delta']
const NAMESPACES = ['ns-a', 'ns-b', 'kube-system']
const KINDS: Readonly<Record<string, { group: string, path: readonly string[] }>> = WORKLOAD_KINDS
const VOLUME_KEYS = ['sidecar.istio.io/userVolume', 'sidecar.istio.io/userVolumeMount'] as const

const configArb = fc.record({
  injection: fc.constantFrom('label', 'namespace', 'cluster'),
  annotationFormat: fc.constantFrom('map', 'array'),
  mountRoot: fc.constantFrom('/etc/egress-mtls', '/var/run/certs'),
  targets: fc.shuffledSubarray(TARGETS).chain((names) => fc.tuple(...names.map((name) => fc.record({
    name: fc.constant(name),
    host: fc.constant(`${name}.example.com`),
    namespaces: fc.oneof(fc.constant(['*']), fc.subarray(['ns-a', 'ns-b'], { minLength: 1 })),
    secretKeys: fc.constantFrom({}, { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' }),
    origination: fc.constantFrom('sidecar', 'sidecar', 'egressGateway'),
  })))),
}).map((raw) => resolvedConfig(raw))

interface UserValue { form: 'map' | 'array', entries: [string, Record<string, unknown>][], pretty: boolean }

/** User entries: names that are never egress-mtls-<target> (integer-like ones test the order). */
const userValueArb: fc.Arbitrary<UserValue> = fc.record({
  form: fc.constantFrom('map' as const, 'array' as const),
  entries: fc.uniqueArray(fc.tuple(
    fc.oneof(fc.stringMatching(/^[a-z0-9]{1,6}$/), fc.constantFrom('egress-mtls', 'egress-mtls-user', '0', '10', '7')),
    fc.dictionary(fc.constantFrom('emptyDir', 'configMap', 'secret', 'mountPath', 'readOnly', 'subPath'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3, noNullPrototype: true })
      .map((body) => JSON.parse(JSON.stringify(body)) as Record<string, unknown>),
  ), { selector: ([name]) => name, maxLength: 4 }),
  pretty: fc.boolean(),
})

function text ({ form, entries, pretty }: UserValue): string {
  const sep = pretty ? ', ' : ','
  if (form === 'array') return JSON.stringify(entries.map(([name, body]) => ({ ...body, name })), null, pretty ? 2 : undefined)
  return `{${entries.map(([name, body]) => `${JSON.stringify(name)}:${pretty ? ' ' : ''}${JSON.stringify(body)}`).join(sep)}}`
}

const stringsArb = fc.dictionary(fc.stringMatching(/^[a-z]{1,4}(\.io\/[a-z]{1,4})?$/), fc.string({ maxLength: 6 }), { maxKeys: 3, noNullPrototype: true })

const workloadArb = fc.record({
  kind: fc.constantFrom(...Object.keys(KINDS)),
  namespace: fc.constantFrom(...NAMESPACES),
  inject: fc.constantFrom(undefined, 'true', 'false'),
  targets: fc.option(fc.subarray([...TARGETS, 'unknown']).map((n) => n.join(',')), { nil: undefined }),
  templateMetadata: fc.option(fc.record({
    labels: fc.option(stringsArb, { nil: undefined }),
    annotations: fc.option(fc.record({
      other: stringsArb,
      volume: fc.option(userValueArb, { nil: undefined }),
      mount: fc.option(userValueArb, { nil: undefined }),
    }), { nil: undefined }),
  }), { nil: undefined }),
}).map((w) => {
  const labels: Record<string, string> = { app: 'web', ...(w.inject === undefined ? {} : { 'egress-mtls.io/inject': w.inject }) }
  const template: Record<string, unknown> = { spec: { containers: [{ name: 'app', image: 'web:1' }] } }
  const user: Partial<Record<typeof VOLUME_KEYS[number], UserValue>> = {}
  if (w.templateMetadata !== undefined) {
    const meta: Record<string, unknown> = {}
    if (w.templateMetadata.labels !== undefined) meta['labels'] = w.templateMetadata.labels
    const a = w.templateMetadata.annotations
    if (a !== undefined) {
      const annotations: Record<string, string> = { ...a.other }
      if (a.volume !== undefined) { annotations[VOLUME_KEYS[0]] = text(a.volume); user[VOLUME_KEYS[0]] = a.volume }
      if (a.mount !== undefined) { annotations[VOLUME_KEYS[1]] = text(a.mount); user[VOLUME_KEYS[1]] = a.mount }
      meta['annotations'] = annotations
    }
    template['metadata'] = meta
  }
  const { group, path } = KINDS[w.kind]!
  let spec: unknown = template
  for (const field of path.slice(1).reverse()) spec = { [field]: spec }
  const object = {
    apiVersion: `${group}/v1`,
    kind: w.kind,
    metadata: { name: 'web', labels, ...(w.targets === undefined ? {} : { annotations: { 'egress-mtls.io/targets': w.targets } }) },
    spec,
  }
  return { kind: w.kind, namespace: w.namespace, object, user, template: () => templateOf(object, w.kind) }
})

function templateOf (object: unknown, kind: string): Record<string, unknown> {
  let t = object
  for (const field of KINDS[kind]!.path) t = (t as Record<string, unknown>)[field]
  return t as Record<string, unknown>
}

/** An UPDATE, or a CREATE for Jobs (an UPDATE never changes a Job's pod template). */
function request (kind: string, namespace: string, object: unknown): AdmissionRequest {
  return { uid: 'u-1', kind: { group: KINDS[kind]!.group, version: 'v1', kind }, namespace, operation: kind === 'Job' ? 'CREATE' : 'UPDATE', object }
}

/** admit() and the patch applied (applyPatch throws on an invalid patch). */
function mutate (
  w: { kind: string, namespace: string }, object: unknown, config: Config,
): { result: Outcome, object: Record<string, unknown> } {
  const a = admit(request(w.kind, w.namespace, object), config)
  assert.ok(a.result !== 'denied' && a.result !== 'error', JSON.stringify(a.response))
  const out = applyPatch(object, a.patch)
  return { result: a.result, object: out as Record<string, unknown> }
}

const ours = (config: Config): Set<string> => new Set(config.targets.map((t) => `egress-mtls-${t.name}`))
const entriesOf = (value: string | undefined) => {
  if (value === undefined) return undefined
  const parsed = parseUserVolumes(value)
  assert.ok(parsed.ok, value)
  return parsed.value
}

/** Template metadata with missing maps as empty ones and the sidecar annotations as parsed entries (none = absent). */
function normalized (template: Record<string, unknown>): unknown {
  const meta = (template['metadata'] ?? {}) as { labels?: Record<string, string>, annotations?: Record<string, string> }
  const annotations = new Map<string, unknown>(Object.entries(meta.annotations ?? {}))
  for (const key of VOLUME_KEYS) {
    const parsed = entriesOf(meta.annotations?.[key])
    if (parsed === undefined || parsed.entries.length === 0) annotations.delete(key)
    else annotations.set(key, parsed)
  }
  return { labels: meta.labels ?? {}, annotations: Object.fromEntries(annotations) }
}

const runs = { numRuns: 100 }

test('the patch applies, touches only the pod template metadata keys of egress-mtls, and a second pass adds nothing', () => {
  fc.assert(fc.property(configArb, workloadArb, (config, w) => {
    const { result, object } = mutate(w, w.object, config)
    const again = admit(request(w.kind, w.namespace, object), config)
    assert.deepEqual(again.patch, [])
    if (result !== 'injected') assert.equal(again.result, result)

    // Nothing outside the pod template's metadata changed.
    const strip = (o: Record<string, unknown>) => { const c = structuredClone(o); delete templateOf(c, w.kind)['metadata']; return c }
    assert.deepEqual(strip(object), strip(w.object))
    // Inside it, only egress-mtls's keys.
    const before = (w.template()['metadata'] ?? {}) as { labels?: Record<string, string>, annotations?: Record<string, string> }
    const after = (templateOf(object, w.kind)['metadata'] ?? {}) as typeof before
    const ourLabel = (k: string) => TARGETS.some((t) => k === `egress-mtls.io/${t}`)
    for (const [k, v] of Object.entries(before.labels ?? {})) if (!ourLabel(k)) assert.equal(after.labels?.[k], v)
    for (const k of Object.keys(after.labels ?? {})) assert.ok(ourLabel(k) || Object.hasOwn(before.labels ?? {}, k), k)
    const ourAnnotation = (k: string) => k === 'egress-mtls.io/injected' || (VOLUME_KEYS as readonly string[]).includes(k)
    for (const [k, v] of Object.entries(before.annotations ?? {})) if (!ourAnnotation(k)) assert.equal(after.annotations?.[k], v)
    for (const k of Object.keys(after.annotations ?? {})) assert.ok(ourAnnotation(k) || Object.hasOwn(before.annotations ?? {}, k), k)
    assert.equal(again.result, after.annotations?.['egress-mtls.io/injected'] === undefined ? 'skipped' : 'unchanged')

    // The user's entries are all there, in their order and form, as written.
    for (const key of VOLUME_KEYS) {
      const user = w.user[key]
      const parsed = entriesOf(after.annotations?.[key])
      if (user === undefined) {
        if (parsed !== undefined) assert.equal(parsed.form, config.annotationFormat)
        continue
      }
      const kept = (parsed?.entries ?? []).filter((e) => !ours(config).has(e.name))
      assert.deepEqual(kept.map((e) => e.name), user.entries.map(([name]) => name))
      const userItems = user.entries.map(([name, body]) => user.form === 'array' ? { ...body, name } : body)
      assert.deepEqual(kept.map((e) => e.value), userItems)
      if (parsed !== undefined) assert.equal(parsed.form, user.form)
    }
  }), runs)
})

test('removing targets from the configuration and mutating again is the same as never having had them', () => {
  fc.assert(fc.property(configArb, workloadArb, fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), (config, w, keep) => {
    const first = mutate(w, w.object, config).object
    const fewer: Config = { ...config, targets: config.targets.filter((_, i) => keep[i]) }
    const second = mutate(w, first, fewer).object
    const direct = mutate(w, w.object, fewer).object
    assert.deepEqual(normalized(templateOf(second, w.kind)), normalized(templateOf(direct, w.kind)))
    // With no target left: exactly what the user wrote.
    const none = mutate(w, first, { ...config, targets: [] }).object
    assert.deepEqual(normalized(templateOf(none, w.kind)), normalized(w.template()))
  }), runs)
})

test('moving targets between sidecar and egressGateway and mutating again is the same as mutating with the new modes directly', () => {
  fc.assert(fc.property(configArb, workloadArb, fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), (config, w, flip) => {
    const first = mutate(w, w.object, config).object
    const moved: Config = {
      ...config,
      targets: config.targets.map((t, i) => flip[i] === true ? { ...t, origination: t.origination === 'sidecar' ? 'egressGateway' : 'sidecar' } : t),
    }
    const second = mutate(w, first, moved).object
    // A target back in sidecar mode gets its entries after the others (as a new target does).
    const unordered = (template: Record<string, unknown>): unknown => {
      const n = normalized(template) as { annotations: Record<string, unknown> }
      for (const key of VOLUME_KEYS) {
        const v = n.annotations[key] as { entries: { name: string }[] } | undefined
        if (v !== undefined) n.annotations[key] = { ...v, entries: [...v.entries].sort((a, b) => a.name < b.name ? -1 : 1) }
      }
      return n
    }
    assert.deepEqual(unordered(templateOf(second, w.kind)), unordered(templateOf(mutate(w, w.object, moved).object, w.kind)))
    // No egress-mtls volume or mount for a target at the gateway, ever.
    const annotations = ((templateOf(second, w.kind)['metadata'] ?? {}) as { annotations?: Record<string, string> }).annotations ?? {}
    for (const key of VOLUME_KEYS) {
      const names = new Set((entriesOf(annotations[key])?.entries ?? []).map((e) => e.name))
      for (const t of moved.targets) if (t.origination === 'egressGateway') assert.ok(!names.has(`egress-mtls-${t.name}`), `${key}: ${t.name}`)
    }
  }), runs)
})

test('opting out after an injection leaves exactly what the user wrote', () => {
  fc.assert(fc.property(configArb, workloadArb, (config, w) => {
    const injected = mutate(w, w.object, config).object
    const optedOut = structuredClone(injected)
    ;(optedOut['metadata'] as { labels: Record<string, string> }).labels['egress-mtls.io/inject'] = 'false'
    const { object } = mutate(w, optedOut, config)
    assert.deepEqual(normalized(templateOf(object, w.kind)), normalized(w.template()))
  }), runs)
})

test('a dry run gets the same answer', () => {
  fc.assert(fc.property(configArb, workloadArb, (config, w) => {
    const req = request(w.kind, w.namespace, w.object)
    assert.deepEqual(admit({ ...req, dryRun: true }, config), admit(req, config))
  }), { numRuns: 50 })
})

test('admit never throws, whatever the object, and always answers for the request\'s uid', () => {
  const odd = fc.anything({ maxDepth: 3 })
  const shaped = fc.record({
    metadata: fc.oneof(odd, fc.record({ labels: fc.oneof(odd, fc.constant({ 'egress-mtls.io/inject': 'true' })), annotations: odd })),
    spec: fc.oneof(odd, fc.record({ template: fc.oneof(odd, fc.record({ metadata: fc.oneof(odd, fc.record({ labels: odd, annotations: fc.oneof(odd, fc.dictionary(fc.constantFrom(...VOLUME_KEYS, 'egress-mtls.io/injected'), fc.string())) })) })) })),
  }, { requiredKeys: [] })
  fc.assert(fc.property(configArb, fc.constantFrom(...Object.keys(KINDS), 'Pod'), fc.constantFrom('CREATE', 'UPDATE', 'DELETE'), fc.oneof(odd, shaped), (config, kind, operation, object) => {
    const req = { uid: 'odd', kind: { group: KINDS[kind]?.group ?? '', version: 'v1', kind }, namespace: 'ns-a', operation, object }
    const a = admit(req, config)
    assert.equal(a.response.uid, 'odd')
    assert.ok(['injected', 'unchanged', 'skipped', 'denied', 'error'].includes(a.result))
    assert.equal(a.response.allowed, a.result !== 'denied')
    assert.equal(a.response.patch === undefined, a.patch.length === 0)
  }), { numRuns: 200 })
})

// ---- the user's entries as text ---------------------------------------------------

/** Spacing JSON allows between tokens. */
const ws = fc.constantFrom('', '', ' ', '\n  ', '\t', ' \r\n')
/** Scalars written the ways JSON.parse + JSON.stringify would change. */
const oddScalar = fc.oneof(
  fc.constantFrom('9007199254740993', '1.50', '1e3', '-0', '0.1E-2', '12345678901234567890123', '100.0', 'true', 'null'),
  fc.constantFrom('"\\u00e9t\\u00E9"', '"\\/etc\\/x"', '"a\\"b\\\\c"', '"\\ud83d\\ude00"', '"tab\\there"', '"é"', '""'),
  fc.integer().map(String),
  fc.string({ maxLength: 6 }).map((x) => JSON.stringify(x)),
)
const { jsonText } = fc.letrec<{ jsonText: string, objectText: string }>((tie) => ({
  jsonText: fc.oneof({ depthSize: 'small', withCrossShrink: true }, oddScalar, tie('objectText'),
    fc.tuple(ws, fc.array(fc.tuple(tie('jsonText'), ws), { maxLength: 3 })).map(([w, items]) => `[${w}${items.map(([t, w2]) => t + w2).join(',')}]`)),
  objectText: fc.tuple(ws, fc.uniqueArray(fc.tuple(fc.constantFrom('emptyDir', 'sizeLimit', 'secret', 'items', 'b', 'a', '10', '2', 'x y'), ws, ws, tie('jsonText'), ws), { selector: ([k]) => k, maxLength: 3 }))
    .map(([w, members]) => `{${w}${members.map(([k, w1, w2, v, w3]) => `${JSON.stringify(k)}${w1}:${w2}${v}${w3}`).join(',')}}`),
}))
/** A user volume (or mount) body as text: an object with odd formatting inside. */
const bodyText = fc.tuple(ws, fc.uniqueArray(fc.tuple(fc.constantFrom('emptyDir', 'configMap', 'mountPath', 'readOnly', 'sizeLimit', '0', 'z'), ws, jsonText), { selector: ([k]) => k, maxLength: 3 }))
/** A user annotation value in either form, entries (names never egress-mtls-<target>) with their exact text. */
const userText = fc.record({
  form: fc.constantFrom('map' as const, 'array' as const),
  entries: fc.uniqueArray(fc.tuple(fc.constantFrom('cache', 'ledger-ca', '7', 'egress-mtls', 'r\u00e9al', 'tmp'), fc.boolean(), bodyText, fc.nat(3)), { selector: ([n]) => n, minLength: 1, maxLength: 4 }),
  around: fc.tuple(ws, ws, ws, ws),
}).map(({ form, entries, around: [outer, inner, sep, end] }) => {
  const texts = entries.map(([name, escaped, [w, members], at]) => {
    const nameText = escaped ? JSON.stringify(name).replace('e', '\\u0065') : JSON.stringify(name)
    const body = members.map(([k, w1, v]) => `${JSON.stringify(k)}:${w1}${v}`)
    if (form === 'map') return `${nameText}${w}:${w}{${body.join(`,${w}`)}}`
    body.splice(Math.min(at, body.length), 0, `"name":${w}${nameText}`)
    return `{${w}${body.join(',')}${w}}`
  })
  const [open, close] = form === 'map' ? ['{', '}'] : ['[', ']']
  return { form, texts, value: `${outer}${open}${inner}${texts.join(`${sep},${sep}`)}${end}${close}${outer}` }
})

test('the user\'s entries keep their exact text while ours are added, rewritten and removed, and the value comes back byte for byte', () => {
  const keeps = fc.array(fc.boolean(), { minLength: 4, maxLength: 4 })
  const kinds = fc.constantFrom(...Object.keys(KINDS))
  fc.assert(fc.property(configArb, kinds, userText, userText, keeps, (config, kind, volume, mount, keep) => {
    const object = {
      apiVersion: `${KINDS[kind]!.group}/v1`,
      kind,
      metadata: { name: 'web', labels: { 'egress-mtls.io/inject': 'true' } },
      spec: {} as Record<string, unknown>,
    }
    let spec: unknown = { metadata: { annotations: { [VOLUME_KEYS[0]]: volume.value, [VOLUME_KEYS[1]]: mount.value } } }
    for (const field of KINDS[kind]!.path.slice(1).reverse()) spec = { [field]: spec }
    object.spec = spec as Record<string, unknown>
    const w = { kind, namespace: 'ns-a' }
    const annotationsOf = (o: unknown): Record<string, string> => (templateOf(o, kind)['metadata'] as { annotations: Record<string, string> }).annotations
    const userTexts = (o: unknown, key: typeof VOLUME_KEYS[number]): string[] => {
      const parsed = entriesOf(annotationsOf(o)[key])
      return (parsed?.entries ?? []).filter((e) => !ours(config).has(e.name)).map((e) => e.text)
    }
    const injected = mutate(w, object, config).object
    const fewer = mutate(w, injected, { ...config, targets: config.targets.filter((_, i) => keep[i]), mountRoot: '/moved' }).object
    for (const o of [injected, fewer]) {
      assert.deepEqual(userTexts(o, VOLUME_KEYS[0]), volume.texts)
      assert.deepEqual(userTexts(o, VOLUME_KEYS[1]), mount.texts)
    }
    const none = mutate(w, fewer, { ...config, targets: [] }).object
    assert.equal(annotationsOf(none)[VOLUME_KEYS[0]], volume.value)
    assert.equal(annotationsOf(none)[VOLUME_KEYS[1]], mount.value)
  }), { numRuns: 200 })
})
