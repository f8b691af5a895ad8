import assert from 'node:assert/strict'
import { test } from 'node:test'

import type { Message } from '../../src/core/admission/messages.ts'
import { decide, misplacedOptIn } from '../../src/core/admission/policy.ts'
import { type Config } from '../../src/core/config/config.ts'
import { resolvedConfig } from '../support/config.ts'

function config (injection: Config['injection'], extra: Record<string, unknown> = {}): Config {
  return resolvedConfig({
    injection,
    excludeNamespaces: ['legacy'],
    targets: [
      { name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'] },
      { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['payments', 'billing'] },
      { name: 'audit', host: 'audit.example.com', namespaces: ['*'] },
    ],
    ...extra,
  })
}

/** A message as the tests read it: its code, then its text. */
const line = (m: Message): string => `${m.code}: ${m.text}`

/** decide(), each message as a line. */
function decided (...args: Parameters<typeof decide>): { targets: ReturnType<typeof decide>['targets'], warnings: string[], denied?: string } {
  const { targets, warnings, denied } = decide(...args)
  return { targets, warnings: warnings.map(line), ...(denied === undefined ? {} : { denied: line(denied) }) }
}

const names = (d: ReturnType<typeof decided>): string[] => d.targets.map((t) => t.name)
const IN = { 'egress-mtls.io/inject': 'true' }
const OUT = { 'egress-mtls.io/inject': 'false' }

test('label mode: only workloads labelled "true", with every target of the namespace in configuration order', () => {
  const c = config('label')
  assert.deepEqual(names(decided(c, 'payments', IN, {})), ['bank-api', 'tax-gw', 'audit'])
  assert.deepEqual(names(decided(c, 'billing', IN, {})), ['tax-gw', 'audit'])
  assert.deepEqual(decided(c, 'payments', {}, {}), { targets: [], warnings: [] })
  assert.deepEqual(decided(c, 'payments', OUT, {}), { targets: [], warnings: [] })
})

test('label mode: naming targets without the opt-in label gets a warning', () => {
  assert.deepEqual(decided(config('label'), 'payments', { app: 'web' }, { 'egress-mtls.io/targets': 'bank-api' }), {
    targets: [],
    warnings: ['EMTLS_NOT_OPTED_IN: annotation egress-mtls.io/targets is set but the workload is not opted in (label egress-mtls.io/inject: "true"): nothing injected'],
  })
  // an explicit opt-out is not a mistake
  assert.deepEqual(decided(config('label'), 'payments', OUT, { 'egress-mtls.io/targets': 'bank-api' }), { targets: [], warnings: [] })
})

test('label mode: the opt-in label on the pod template instead of the workload gets a warning', () => {
  assert.equal(line(misplacedOptIn(config('label'), 'Deployment', { app: 'web' }, IN) ?? assert.fail('no warning')),
    'EMTLS_OPT_IN_ON_POD_TEMPLATE: label egress-mtls.io/inject is on the pod template; the Deployment\'s own labels opt it in: nothing injected')
  assert.equal(misplacedOptIn(config('label'), 'Deployment', IN, IN), undefined)
  assert.equal(misplacedOptIn(config('label'), 'Deployment', OUT, IN), undefined)
  assert.equal(misplacedOptIn(config('namespace'), 'Deployment', {}, IN), undefined)
})

test('namespace mode: everything but "false"', () => {
  const c = config('namespace')
  assert.deepEqual(names(decided(c, 'payments', {}, {})), ['bank-api', 'tax-gw', 'audit'])
  assert.deepEqual(names(decided(c, 'payments', IN, {})), ['bank-api', 'tax-gw', 'audit'])
  assert.deepEqual(decided(c, 'payments', OUT, {}), { targets: [], warnings: [] })
})

test('cluster mode: everything but "false" and the excluded namespaces', () => {
  const c = config('cluster', { meshRootNamespace: 'mesh' })
  assert.deepEqual(names(decided(c, 'billing', {}, {})), ['tax-gw', 'audit'])
  assert.deepEqual(decided(c, 'billing', OUT, {}), { targets: [], warnings: [] })
  for (const ns of ['kube-system', 'kube-public', 'kube-node-lease', 'mesh', 'legacy']) {
    assert.deepEqual(decided(c, ns, {}, {}), { targets: [], warnings: [] }, ns)
  }
  // istio-system is only excluded as the mesh root namespace, which here is "mesh".
  assert.deepEqual(names(decided(c, 'istio-system', {}, {})), ['audit'])
  for (const [labels, annotations] of [[IN, {}], [{}, { 'egress-mtls.io/targets': 'audit' }]] as const) {
    assert.deepEqual(decided(c, 'kube-system', labels, annotations), {
      targets: [], warnings: ['EMTLS_NAMESPACE_EXCLUDED: namespace kube-system is excluded from injection (cluster mode): nothing injected'],
    })
  }
})

test('cluster mode: a namespace without targets is silent unless the workload asked', () => {
  const c = config('cluster', { targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'] }] })
  assert.deepEqual(decided(c, 'shop', {}, {}), { targets: [], warnings: [] })
  assert.match(decided(c, 'shop', IN, {}).warnings[0] ?? '', /^EMTLS_NO_TARGET_AVAILABLE: no target is available in namespace shop/)
})

test('a label value other than "true" or "false" injects nothing, with a warning, in every mode', () => {
  for (const mode of ['label', 'namespace', 'cluster'] as const) {
    const d = decided(config(mode), 'payments', { 'egress-mtls.io/inject': 'yes' }, {})
    assert.deepEqual(d.targets, [], mode)
    assert.equal(d.warnings.length, 1)
    assert.match(d.warnings[0] ?? '', /^EMTLS_INJECT_LABEL_INVALID: label egress-mtls\.io\/inject is "yes", neither "true" \(opt in\) nor "false" \(opt out\)/)
  }
})

test('labelled in a namespace without targets: a warning says so', () => {
  const c = config('label', { targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'] }] })
  const d = decided(c, 'shop', IN, {})
  assert.deepEqual(d.targets, [])
  assert.deepEqual(d.warnings, ['EMTLS_NO_TARGET_AVAILABLE: no target is available in namespace shop: nothing injected'])
  // namespace mode: the namespace opted in, so the same warning
  assert.equal(decided({ ...c, injection: 'namespace' }, 'shop', {}, {}).warnings.length, 1)
})

test('egress-mtls.io/targets narrows, keeps configuration order, and warns about unknown or unavailable names', () => {
  const c = config('label')
  assert.deepEqual(decided(c, 'payments', IN, { 'egress-mtls.io/targets': 'audit, bank-api' }), {
    targets: c.targets.filter((t) => t.name !== 'tax-gw'), warnings: [],
  })
  const unknown = decided(c, 'billing', IN, { 'egress-mtls.io/targets': 'tax-gw,nope,bank-api' })
  assert.deepEqual(names(unknown), ['tax-gw'])
  assert.deepEqual(unknown.warnings, [
    'EMTLS_TARGET_UNKNOWN: annotation egress-mtls.io/targets: unknown target "nope" (available in namespace billing: tax-gw, audit)',
    'EMTLS_TARGET_UNAVAILABLE: annotation egress-mtls.io/targets: target "bank-api" is not available in namespace billing (available in namespace billing: tax-gw, audit)',
  ])
  const empty = decided(c, 'payments', IN, { 'egress-mtls.io/targets': ' , ' })
  assert.deepEqual(empty.targets, [])
  assert.match(empty.warnings[0] ?? '', /^EMTLS_TARGETS_EMPTY: annotation egress-mtls\.io\/targets names no target \(available in namespace payments: bank-api, tax-gw, audit\): nothing injected$/)
})

test('egress-mtls.io/targets: bounded: over 256 KiB refused unread, at most 10 warnings, long names cut', () => {
  const huge = decided(config('label'), 'payments', IN, { 'egress-mtls.io/targets': 'a,'.repeat(200_000) })
  assert.deepEqual(huge, {
    targets: [],
    warnings: [],
    denied: 'EMTLS_TARGETS_TOO_BIG: annotation egress-mtls.io/targets is over 262144 bytes (256 KiB, the API server\'s limit for all annotations of an object together): refused unread',
  })
  const many = decided(config('label'), 'payments', IN, { 'egress-mtls.io/targets': ['bank-api', ...Array.from({ length: 5000 }, (_, i) => `n${i}`)].join(',') })
  assert.deepEqual(names(many), ['bank-api'])
  assert.equal(many.warnings.length, 10)
  assert.equal(many.warnings.at(-1), 'EMTLS_TARGETS_MORE: annotation egress-mtls.io/targets: 4991 more names that are not available')
  const long = decided(config('label'), 'payments', IN, { 'egress-mtls.io/targets': 'x'.repeat(100_000) })
  assert.deepEqual(long.warnings, [`EMTLS_TARGET_UNKNOWN: annotation egress-mtls.io/targets: unknown target "${'x'.repeat(60)}"... (available in namespace payments: bank-api, tax-gw, audit)`])
})

test('targets sharing a host: none is a default; the workload names its own; naming two of one host is denied', async (t) => {
  const c = (injection: Config['injection']): Config => resolvedConfig({
    injection,
    targets: [
      { name: 'merchant-a', host: 'api.bank.example.com', namespaces: ['payments'] },
      { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['payments'] },
      { name: 'merchant-b', host: 'api.bank.example.com', namespaces: ['payments', 'billing'] },
    ],
  })
  const SHARED = 'EMTLS_HOST_SHARED: targets merchant-a, merchant-b share host api.bank.example.com: none of them is injected unless annotation egress-mtls.io/targets names the one this workload presents'
  await t.test('by default: the other targets, and a warning naming the host and its targets', () => {
    for (const injection of ['label', 'namespace', 'cluster'] as const) {
      const d = decided(c(injection), 'payments', IN, {})
      assert.deepEqual([names(d), d.warnings], [['tax-gw'], [SHARED]], injection)
    }
    // where only one of them is available, it is a default as any other
    assert.deepEqual(decided(c('label'), 'billing', IN, {}), { targets: [c('label').targets[2]], warnings: [] })
  })
  await t.test('cluster mode: a workload that asked for nothing hears nothing', () => {
    assert.deepEqual(decided(c('cluster'), 'payments', {}, {}), { targets: [c('cluster').targets[1]], warnings: [] })
  })
  await t.test('named in egress-mtls.io/targets: that one', () => {
    assert.deepEqual(names(decided(c('label'), 'payments', IN, { 'egress-mtls.io/targets': 'merchant-b' })), ['merchant-b'])
    assert.deepEqual(names(decided(c('label'), 'payments', IN, { 'egress-mtls.io/targets': 'tax-gw, merchant-a' })), ['merchant-a', 'tax-gw'])
  })
  await t.test('two of one host named: denied, naming them', () => {
    assert.deepEqual(decided(c('namespace'), 'payments', {}, { 'egress-mtls.io/targets': 'merchant-b,tax-gw,merchant-a,nope' }), {
      targets: [],
      warnings: ['EMTLS_TARGET_UNKNOWN: annotation egress-mtls.io/targets: unknown target "nope" (available in namespace payments: merchant-a, tax-gw, merchant-b)'],
      denied: 'EMTLS_TARGETS_SHARE_HOST: annotation egress-mtls.io/targets names merchant-a and merchant-b, targets of one host api.bank.example.com: ' +
        'a sidecar presents one client certificate per host (both DestinationRules would select it, and Istio applies one of them); name one',
    })
  })
})
