// plan(): rendered objects against live ones → create / update / unchanged / delete, and
// conflict / adopt for objects at our names that are not our instance's.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { entryDiff } from '../../src/core/istio/diff.ts'
import { conflictMessage, countActions, formatEntry, type LiveObject, plan as planWith, type PlanOptions } from '../../src/core/istio/plan.ts'
import { type IstioObject, render } from '../../src/core/istio/render.ts'
import { resolvedConfig } from '../support/config.ts'

const desired = render(resolvedConfig({
  routing: 'virtualService',
  targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'], subjectAltNames: ['bank'] }],
}))

/** A live object as the API returns it: the desired one plus server-side metadata and status. */
function live (
  o: IstioObject, change: (spec: Record<string, unknown>, labels: Record<string, string>) => void = () => undefined,
): LiveObject {
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

const plan = (d: readonly IstioObject[], l: readonly LiveObject[], o: Partial<PlanOptions> = {}): ReturnType<typeof planWith> => planWith(d, l, { instance: 'egress-mtls', ...o })

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
  const other = render(resolvedConfig({ targets: [{ name: 'gone', host: 'gone.example.com', namespaces: ['zeta', 'alpha'] }] }))
  const all = [...desired, ...other].map((o) => live(o))
  assert.deepEqual(lines(plan(desired, all)), [
    'unchanged ServiceEntry payments/egress-mtls-bank-api',
    'unchanged DestinationRule payments/egress-mtls-bank-api',
    'unchanged VirtualService payments/egress-mtls-bank-api',
    'delete DestinationRule alpha/egress-mtls-gone (target gone is no longer in the configuration)',
    'delete ServiceEntry alpha/egress-mtls-gone (target gone is no longer in the configuration)',
    'delete DestinationRule zeta/egress-mtls-gone (target gone is no longer in the configuration)',
    'delete ServiceEntry zeta/egress-mtls-gone (target gone is no longer in the configuration)',
  ])
  assert.deepEqual(lines(plan(desired, all, { prune: false })), lines(plan(desired, all)).slice(0, 3))
  assert.deepEqual(countActions(plan([], all)), { create: 0, update: 0, unchanged: 0, delete: 7, conflict: 0, adopt: 0 })
})

test('a host shared by targets: removing one keeps what the others need; the last but one leaving hands the host back to the remaining target', () => {
  const merchant = (name: string): Record<string, unknown> => ({ name, host: 'api.bank.example.com', namespaces: ['payments'] })
  const rendered = (...names: string[]): IstioObject[] => render(resolvedConfig({ routing: 'virtualService', targets: names.map(merchant) }))
  const three = rendered('a', 'b', 'c').map((o) => live(o))
  assert.deepEqual(lines(plan(rendered('a', 'b'), three)), [
    'unchanged DestinationRule payments/egress-mtls-a',
    'unchanged DestinationRule payments/egress-mtls-b',
    'unchanged ServiceEntry payments/egress-mtls.api.bank.example.com',
    'unchanged VirtualService payments/egress-mtls.api.bank.example.com',
    'delete DestinationRule payments/egress-mtls-c (target c is no longer in the configuration)',
  ])
  // b leaves: a is alone on its host again, with a ServiceEntry and VirtualService of its own
  // (created first) instead of the shared ones (deleted after).
  assert.deepEqual(lines(plan(rendered('a'), rendered('a', 'b').map((o) => live(o)))), [
    'create ServiceEntry payments/egress-mtls-a',
    'unchanged DestinationRule payments/egress-mtls-a',
    'create VirtualService payments/egress-mtls-a',
    'delete DestinationRule payments/egress-mtls-b (target b is no longer in the configuration)',
    'delete ServiceEntry payments/egress-mtls.api.bank.example.com (host api.bank.example.com is no longer shared by targets in namespace payments: its ServiceEntry is now egress-mtls-a)',
    'delete VirtualService payments/egress-mtls.api.bank.example.com (host api.bank.example.com is no longer shared by targets in namespace payments: its VirtualService is now egress-mtls-a)',
  ])
  // And back: a second target joins a's host.
  assert.deepEqual(lines(plan(rendered('a', 'b'), rendered('a').map((o) => live(o)))), [
    'unchanged DestinationRule payments/egress-mtls-a',
    'create DestinationRule payments/egress-mtls-b',
    'create ServiceEntry payments/egress-mtls.api.bank.example.com',
    'create VirtualService payments/egress-mtls.api.bank.example.com',
    'delete ServiceEntry payments/egress-mtls-a (targets share host api.bank.example.com in namespace payments: its ServiceEntry is now egress-mtls.api.bank.example.com)',
    'delete VirtualService payments/egress-mtls-a (targets share host api.bank.example.com in namespace payments: its VirtualService is now egress-mtls.api.bank.example.com)',
  ])
  // Everything goes with the last target.
  assert.deepEqual(lines(plan([], rendered('a', 'b').map((o) => live(o)))).map((l) => l.split(' (')[0]), [
    'delete DestinationRule payments/egress-mtls-a',
    'delete DestinationRule payments/egress-mtls-b',
    'delete ServiceEntry payments/egress-mtls.api.bank.example.com',
    'delete VirtualService payments/egress-mtls.api.bank.example.com',
  ])
})

test('the same name in another namespace or of another kind is another object', () => {
  const [se] = desired
  assert.ok(se)
  const elsewhere = live({ ...se, metadata: { ...se.metadata, namespace: 'billing' } })
  const entries = plan([se], [elsewhere, { ...live(se), kind: 'DestinationRule' }])
  assert.deepEqual(lines(entries), [
    'create ServiceEntry payments/egress-mtls-bank-api',
    'delete ServiceEntry billing/egress-mtls-bank-api (target bank-api is no longer provisioned in namespace billing)',
    'delete DestinationRule payments/egress-mtls-bank-api (the configuration no longer renders a DestinationRule for target bank-api)',
  ])
})

/** `o` as someone else left it at our name: these labels instead of ours, another spec. */
function foreign (o: IstioObject, labels: Record<string, string>): LiveObject {
  return { kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace, labels, resourceVersion: '7', uid: 'u-7' }, spec: { hosts: ['theirs.example.com'] } }
}

test("an object at our name that is not our instance's is a conflict, saying whose it is; never updated nor deleted", () => {
  const [se, dr, vs] = desired
  assert.ok(se && dr && vs)
  const theirs = [
    foreign(se, {}),
    foreign(dr, { 'app.kubernetes.io/managed-by': 'argocd' }),
    foreign(vs, { 'app.kubernetes.io/managed-by': 'egress-mtls', 'egress-mtls.io/instance': 'other', 'egress-mtls.io/target': 'bank-api' }),
  ]
  const entries = plan(desired, theirs)
  assert.deepEqual(lines(entries), [
    'conflict ServiceEntry payments/egress-mtls-bank-api (it was not made by egress-mtls)',
    'conflict DestinationRule payments/egress-mtls-bank-api (it is managed by "argocd")',
    'conflict VirtualService payments/egress-mtls-bank-api (it belongs to egress-mtls instance "other")',
  ])
  assert.equal(conflictMessage(entries[2]!, 'egress-mtls'),
    'VirtualService payments/egress-mtls-bank-api: conflict: an object with this name exists and it belongs to egress-mtls instance "other"; ' +
    'left untouched. Delete or rename it, or run provision --adopt to make it instance "egress-mtls"\'s')
  // Labels of an older egress-mtls (no instance) are not ours either.
  const legacy = foreign(se, { 'app.kubernetes.io/managed-by': 'egress-mtls', 'egress-mtls.io/target': 'bank-api' })
  assert.equal(lines(plan([se], [legacy]))[0], 'conflict ServiceEntry payments/egress-mtls-bank-api (it carries app.kubernetes.io/managed-by=egress-mtls but no egress-mtls.io/instance label)')
  // Nothing desired (uninstall): objects that are not ours are not deleted, whatever their name.
  assert.deepEqual(plan([], [...theirs, legacy], { deleteReason: 'uninstall' }), [])
  // Our instance's are, with the reason given.
  assert.deepEqual(lines(plan([], [live(se)], { deleteReason: 'uninstall' })), ['delete ServiceEntry payments/egress-mtls-bank-api (uninstall)'])
  assert.deepEqual(countActions(entries), { create: 0, update: 0, unchanged: 0, delete: 0, conflict: 3, adopt: 0 })
})

test("the instance decides: another instance's objects are conflicts, and not pruned", () => {
  const mine = render(resolvedConfig({ targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'] }] }), 'blue')
  const theirs = render(resolvedConfig({ targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments', 'billing'] }] }), 'green')
  assert.equal(mine[0]?.metadata.labels['egress-mtls.io/instance'], 'blue')
  const entries = planWith(mine, theirs.map((o) => live(o)), { instance: 'blue' })
  assert.deepEqual(lines(entries), [
    'conflict ServiceEntry payments/egress-mtls-bank-api (it belongs to egress-mtls instance "green")',
    'conflict DestinationRule payments/egress-mtls-bank-api (it belongs to egress-mtls instance "green")',
  ])
  assert.deepEqual(lines(planWith(theirs, theirs.map((o) => live(o)), { instance: 'green' })).map((l) => l.split(' ')[0]), ['unchanged', 'unchanged', 'unchanged', 'unchanged'])
})

test('--adopt: a conflict becomes an adoption, with a diff that shows our labels and spec coming in', () => {
  const [se] = desired
  assert.ok(se)
  const [entry] = plan([se], [foreign(se, { team: 'payments' })], { adopt: true })
  assert.ok(entry)
  assert.equal(formatEntry(entry), 'adopt ServiceEntry payments/egress-mtls-bank-api (it was not made by egress-mtls)')
  const diff = entryDiff(entry)
  assert.match(diff, /^--- live\/ServiceEntry\/payments\/egress-mtls-bank-api\n\+\+\+ egress-mtls\/ServiceEntry\/payments\/egress-mtls-bank-api\n@@ /)
  assert.match(diff, /^\+ {4}egress-mtls\.io\/instance: egress-mtls$/m)
  assert.match(diff, /^ {5}team: payments$/m)
  assert.match(diff, /^- {4}- theirs\.example\.com$/m)
  assert.match(diff, /^\+ {4}- api\.bank\.example\.com$/m)
})

test('the diff of an update is a unified diff of the spec, only the changed lines marked; none for other actions', () => {
  const [, dr] = desired
  assert.ok(dr)
  const [entry] = plan([dr], [live(dr, (spec) => { spec['exportTo'] = ['*'] })])
  assert.equal(entry?.action, 'update')
  assert.equal(entryDiff(entry), [
    '--- live/DestinationRule/payments/egress-mtls-bank-api',
    '+++ egress-mtls/DestinationRule/payments/egress-mtls-bank-api',
    '@@ -6,7 +6,7 @@',
    '     team: payments',
    ' spec:',
    '   exportTo:',
    '-    - "*"',
    '+    - .',
    '   host: api.bank.example.com',
    '   trafficPolicy:',
    '     portLevelSettings:',
    '',
  ].join('\n'))
  assert.equal(entryDiff(plan([dr], [live(dr)])[0]!), '')
  assert.equal(entryDiff(plan([dr], [])[0]!), '')
})
