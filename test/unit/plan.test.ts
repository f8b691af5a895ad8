// plan(): rendered objects against live ones → create / update / unchanged / delete.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { resolveConfig } from '../../src/core/config.ts'
import { countActions, formatEntry, plan, type LiveObject } from '../../src/core/plan.ts'
import { render, type IstioObject } from '../../src/core/render.ts'

const desired = render(resolveConfig({
  routing: 'virtualService',
  targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'], subjectAltNames: ['bank'] }],
}))

/** A live object as the API returns it: the desired one plus server-side metadata and status. */
function live (o: IstioObject, change: (spec: Record<string, unknown>, labels: Record<string, string>) => void = () => undefined): LiveObject {
  const spec = structuredClone(o.spec) as Record<string, unknown>
  const labels = { ...o.metadata.labels, 'team': 'payments' }
  change(spec, labels)
  return {
    kind: o.kind,
    metadata: { ...o.metadata, labels, resourceVersion: '42', uid: 'u-1', generation: 1, managedFields: [] } as LiveObject['metadata'],
    spec: reorderKeys(spec),
    status: { validationMessages: [] },
  } as LiveObject
}

/** The same JSON with object keys in reverse order (the API server does not keep our order). */
function reorderKeys (v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reorderKeys)
  if (typeof v !== 'object' || v === null) return v
  return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reorderKeys(x)]))
}

const lines = (entries: ReturnType<typeof plan>): string[] => entries.map(formatEntry)

test('nothing live: everything is created, in render order', () => {
  assert.deepEqual(lines(plan(desired, [])), [
    'create ServiceEntry payments/egress-mtls-bank-api',
    'create DestinationRule payments/egress-mtls-bank-api',
    'create VirtualService payments/egress-mtls-bank-api',
  ])
})

test('live as rendered (extra labels, server metadata, other key order): unchanged', () => {
  const entries = plan(desired, desired.map((o) => live(o)))
  assert.deepEqual(entries.map((e) => e.action), ['unchanged', 'unchanged', 'unchanged'])
  assert.equal(entries[0]?.live?.metadata.resourceVersion, '42')
})

test('a changed, added or removed spec field, or a changed ownership label: update', () => {
  const [se, dr, vs] = desired
  assert.ok(se && dr && vs)
  const cases: [IstioObject, Parameters<typeof live>[1]][] = [
    [se, (spec) => { spec['resolution'] = 'NONE' }],
    [se, (spec) => { spec['addresses'] = ['10.0.0.1'] }],
    [dr, (spec) => { delete spec['workloadSelector'] }],
    [dr, (spec) => { (spec['trafficPolicy'] as { portLevelSettings: { tls: Record<string, unknown> }[] }).portLevelSettings[0]!.tls['insecureSkipVerify'] = true }],
    [dr, (spec) => { (spec['trafficPolicy'] as { portLevelSettings: { tls: Record<string, unknown> }[] }).portLevelSettings[0]!.tls['subjectAltNames'] = [] }],
    [vs, (spec) => { spec['hosts'] = ['api.bank.example.com', 'other.example.com'] }],
    [vs, (_spec, labels) => { labels['egress-mtls.io/target'] = 'other' }],
    [vs, (_spec, labels) => { delete labels['egress-mtls.io/target'] }],
  ]
  for (const [o, change] of cases) {
    const others = desired.filter((d) => d !== o).map((d) => live(d))
    const entries = plan(desired, [...others, live(o, change)])
    const changed = entries.filter((e) => e.action !== 'unchanged')
    assert.deepEqual(lines(changed), [`update ${o.kind} payments/egress-mtls-bank-api`], String(change))
  }
})

test('live objects not desired are deleted, sorted; unless prune is off', () => {
  const other = render(resolveConfig({ targets: [{ name: 'gone', host: 'gone.example.com', namespaces: ['zeta', 'alpha'] }] }))
  const all = [...desired, ...other].map((o) => live(o))
  assert.deepEqual(lines(plan(desired, all)), [
    'unchanged ServiceEntry payments/egress-mtls-bank-api',
    'unchanged DestinationRule payments/egress-mtls-bank-api',
    'unchanged VirtualService payments/egress-mtls-bank-api',
    'delete DestinationRule alpha/egress-mtls-gone',
    'delete ServiceEntry alpha/egress-mtls-gone',
    'delete DestinationRule zeta/egress-mtls-gone',
    'delete ServiceEntry zeta/egress-mtls-gone',
  ])
  assert.deepEqual(lines(plan(desired, all, { prune: false })), lines(plan(desired, all)).slice(0, 3))
  assert.deepEqual(countActions(plan([], all)), { create: 0, update: 0, unchanged: 0, delete: 7 })
})

test('the same name in another namespace or of another kind is another object', () => {
  const [se] = desired
  assert.ok(se)
  const elsewhere = live({ ...se, metadata: { ...se.metadata, namespace: 'billing' } })
  const entries = plan([se], [elsewhere, { ...live(se), kind: 'DestinationRule' }])
  assert.deepEqual(lines(entries), [
    'create ServiceEntry payments/egress-mtls-bank-api',
    'delete ServiceEntry billing/egress-mtls-bank-api',
    'delete DestinationRule payments/egress-mtls-bank-api',
  ])
})
