import assert from 'node:assert/strict'
import { test } from 'node:test'

import { applyPatch } from '../../src/core/admission/apply-patch.ts'
import { mutatePodTemplate, type PatchOperation, type TemplateMetadata } from '../../src/core/admission/mutate.ts'
import { type Config } from '../../src/core/config/config.ts'
import { resolvedConfig } from '../support/config.ts'

const config: Config = resolvedConfig({
  mountRoot: '/etc/egress-mtls',
  targets: [
    { name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'] },
    { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['payments'], secretName: 'tax', secretKeys: { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' } },
  ],
})
const [bank, tax] = config.targets as [Config['targets'][number], Config['targets'][number]]
const arrayConfig: Config = { ...config, annotationFormat: 'array' }

const BANK_VOLUME = { secret: { secretName: 'bank-api-mtls', items: [{ key: 'cert', path: 'cert' }, { key: 'key', path: 'key' }, { key: 'cacert', path: 'cacert' }] } }
const TAX_VOLUME = { secret: { secretName: 'tax', items: [{ key: 'tls.crt', path: 'cert' }, { key: 'tls.key', path: 'key' }, { key: 'ca.crt', path: 'cacert' }] } }
const BANK_MOUNT = { mountPath: '/etc/egress-mtls/bank-api', readOnly: true }
const TAX_MOUNT = { mountPath: '/etc/egress-mtls/tax-gw', readOnly: true }
const USER_VOLUME = { emptyDir: {} }

interface Template { metadata?: { labels?: Record<string, string>, annotations?: Record<string, string> } }

/** Mutates a pod template at /spec/template, applies the patch strictly, and returns the result. */
function run (template: Template, targets = [bank, tax], c = config): { template: Template, ops: readonly PatchOperation[] } {
  const meta: TemplateMetadata = template.metadata === undefined
    ? { exists: false }
    : { exists: true, labels: template.metadata.labels, annotations: template.metadata.annotations }
  const mutation = mutatePodTemplate(['spec', 'template'], meta, targets, c)
  assert.ok(mutation.ok, mutation.ok ? '' : mutation.error.text)
  const ops = mutation.value
  const out = applyPatch({ spec: { template } }, ops) as { spec: { template: Template } }
  // Idempotent: the result needs nothing more.
  const again = mutatePodTemplate(['spec', 'template'], {
    exists: true, labels: out.spec.template.metadata?.labels, annotations: out.spec.template.metadata?.annotations,
  }, targets, c)
  assert.deepEqual(again, { ok: true, value: [] })
  return { template: out.spec.template, ops }
}

const annotation = (t: Template, key: string): string | undefined => t.metadata?.annotations?.[key]

function denied (template: Template, targets = [bank, tax]): string {
  const mutation = mutatePodTemplate(['spec', 'template'], { exists: true, ...template.metadata }, targets, config)
  assert.ok(!mutation.ok, 'expected a denial')
  return `${mutation.error.code}: ${mutation.error.text}`
}

test('a pod template without metadata gets the parents first, then the keys, ~1-escaped', () => {
  const { ops } = run({})
  assert.deepEqual(ops.map((o) => [o.op, o.path]), [
    ['add', '/spec/template/metadata'],
    ['add', '/spec/template/metadata/annotations'],
    ['add', '/spec/template/metadata/annotations/sidecar.istio.io~1userVolume'],
    ['add', '/spec/template/metadata/annotations/sidecar.istio.io~1userVolumeMount'],
    ['add', '/spec/template/metadata/annotations/egress-mtls.io~1injected'],
    ['add', '/spec/template/metadata/labels'],
    ['add', '/spec/template/metadata/labels/egress-mtls.io~1bank-api'],
    ['add', '/spec/template/metadata/labels/egress-mtls.io~1tax-gw'],
  ])
  assert.deepEqual(ops[0]?.op === 'add' ? ops[0].value : undefined, {})
})

test('new values use the configured form, compact JSON, configuration order', () => {
  const map = run({ metadata: { labels: { app: 'web' } } }).template
  assert.deepEqual(map.metadata, {
    labels: { app: 'web', 'egress-mtls.io/bank-api': 'true', 'egress-mtls.io/tax-gw': 'true' },
    annotations: {
      'sidecar.istio.io/userVolume': JSON.stringify({ 'egress-mtls-bank-api': BANK_VOLUME, 'egress-mtls-tax-gw': TAX_VOLUME }),
      'sidecar.istio.io/userVolumeMount': JSON.stringify({ 'egress-mtls-bank-api': BANK_MOUNT, 'egress-mtls-tax-gw': TAX_MOUNT }),
      'egress-mtls.io/injected': 'bank-api,tax-gw',
    },
  })
  const array = run({ metadata: { labels: {}, annotations: {} } }, [bank, tax], arrayConfig).template
  assert.equal(annotation(array, 'sidecar.istio.io/userVolume'),
    JSON.stringify([{ name: 'egress-mtls-bank-api', ...BANK_VOLUME }, { name: 'egress-mtls-tax-gw', ...TAX_VOLUME }]))
  assert.equal(annotation(array, 'sidecar.istio.io/userVolumeMount'),
    JSON.stringify([{ name: 'egress-mtls-bank-api', ...BANK_MOUNT }, { name: 'egress-mtls-tax-gw', ...TAX_MOUNT }]))
})

test('existing values keep their form and their entries, ours appended', () => {
  const mapValue = '{"cache": {"emptyDir": {}}}'
  const arrayValue = '[{"name":"cache","mountPath":"/cache"}]'
  // A map value with the array config and an array value with the map config: each keeps its own.
  const { template } = run({ metadata: { annotations: { 'sidecar.istio.io/userVolume': mapValue, 'sidecar.istio.io/userVolumeMount': arrayValue } } }, [bank], arrayConfig)
  // the user's text as written, ours appended as compact JSON
  assert.equal(annotation(template, 'sidecar.istio.io/userVolume'), `{"cache": {"emptyDir": {}},"egress-mtls-bank-api":${JSON.stringify(BANK_VOLUME)}}`)
  assert.equal(annotation(template, 'sidecar.istio.io/userVolumeMount'),
    JSON.stringify([{ name: 'cache', mountPath: '/cache' }, { name: 'egress-mtls-bank-api', ...BANK_MOUNT }]))
})

test('already right, in any position and key order, whitespace and all: no patch', () => {
  const volume = `{ "egress-mtls-bank-api": ${JSON.stringify(BANK_VOLUME, null, 2)}, "cache": {"emptyDir":{}} }`
  const mount = '[{"readOnly":true,"mountPath":"/etc/egress-mtls/bank-api","name":"egress-mtls-bank-api"}]'
  const mutation = mutatePodTemplate(['spec', 'template'], {
    exists: true,
    labels: { 'egress-mtls.io/bank-api': 'true' },
    annotations: { 'sidecar.istio.io/userVolume': volume, 'sidecar.istio.io/userVolumeMount': mount, 'egress-mtls.io/injected': 'bank-api' },
  }, [bank], config)
  assert.deepEqual(mutation, { ok: true, value: [] })
})

test('removes what it injected for targets that no longer apply, never the user\'s', () => {
  const before = run({ metadata: { labels: { app: 'web' }, annotations: { 'sidecar.istio.io/userVolume': '[{"name":"cache","emptyDir":{}}]', note: 'x' } } }).template
  // tax-gw no longer applies
  const fewer = run(before, [bank]).template
  assert.deepEqual(fewer.metadata?.labels, { app: 'web', 'egress-mtls.io/bank-api': 'true' })
  assert.equal(annotation(fewer, 'egress-mtls.io/injected'), 'bank-api')
  assert.equal(annotation(fewer, 'sidecar.istio.io/userVolume'), JSON.stringify([{ name: 'cache', ...USER_VOLUME }, { name: 'egress-mtls-bank-api', ...BANK_VOLUME }]))
  assert.equal(annotation(fewer, 'sidecar.istio.io/userVolumeMount'), JSON.stringify({ 'egress-mtls-bank-api': BANK_MOUNT }))
  // none applies: the user's own value stays, the keys egress-mtls created go
  const none = run(fewer, []).template
  assert.deepEqual(none.metadata, { labels: { app: 'web' }, annotations: { 'sidecar.istio.io/userVolume': '[{"name":"cache","emptyDir":{}}]', note: 'x' } })
})

test('what is ours is what the injected record says: labels and volumes it does not list are the user\'s', () => {
  const mutation = mutatePodTemplate(['spec', 'template'], {
    exists: true,
    labels: { 'egress-mtls.io/old': 'true', 'egress-mtls.io/canary': 'true', 'egress-mtls.io/gone': 'true', 'egress-mtls.io/inject': 'true' },
    annotations: {
      // "inject" and "Not A Name" cannot be targets: a record never makes such keys ours
      'egress-mtls.io/injected': 'gone, inject,Not A Name',
      'sidecar.istio.io/userVolume': '{"egress-mtls-old":{},"egress-mtls-gone":{},"egress-mtls-inject":{}}',
    },
  }, [], config)
  assert.deepEqual(mutation, {
    ok: true,
    value: [
      { op: 'replace', path: '/spec/template/metadata/annotations/sidecar.istio.io~1userVolume', value: '{"egress-mtls-old":{},"egress-mtls-inject":{}}' },
      { op: 'remove', path: '/spec/template/metadata/annotations/egress-mtls.io~1injected' },
      { op: 'remove', path: '/spec/template/metadata/labels/egress-mtls.io~1gone' },
    ],
  })
  // no record at all: nothing is ours, nothing is touched
  assert.deepEqual(mutatePodTemplate(['spec', 'template'], {
    exists: true,
    labels: { 'egress-mtls.io/old': 'true', 'egress-mtls.io/canary': 'true' },
    annotations: { 'sidecar.istio.io/userVolume': '{"egress-mtls-old":{}}' },
  }, [], config), { ok: true, value: [] })
})

test('a label of the user\'s under egress-mtls.io/ survives injection and removal', () => {
  const injected = run({ metadata: { labels: { 'egress-mtls.io/canary': 'true', 'egress-mtls.io/bank-api': 'true' } } }, [bank]).template
  assert.equal(annotation(injected, 'egress-mtls.io/injected'), 'bank-api')
  const removed = run(injected, []).template
  // bank-api's label was adopted (the record lists it): removed with the injection
  assert.deepEqual(removed.metadata?.labels, { 'egress-mtls.io/canary': 'true' })
})

test('rewrites its own outdated entries in place when the configuration changed', () => {
  const before = run({ metadata: { annotations: { 'sidecar.istio.io/userVolumeMount': '{"a":{"mountPath":"/a"}}' } } }, [bank]).template
  const moved: Config = { ...config, mountRoot: '/certs' }
  const after = run(before, [moved.targets[0]!], moved).template
  assert.equal(annotation(after, 'sidecar.istio.io/userVolumeMount'),
    '{"a":{"mountPath":"/a"},"egress-mtls-bank-api":{"mountPath":"/certs/bank-api","readOnly":true}}')
})

test('a user entry identical to ours is taken as it is', () => {
  const value = JSON.stringify([{ name: 'egress-mtls-bank-api', ...BANK_VOLUME }])
  const { template, ops } = run({ metadata: { annotations: { 'sidecar.istio.io/userVolume': value } } }, [bank])
  assert.equal(annotation(template, 'sidecar.istio.io/userVolume'), value)
  assert.ok(!ops.some((o) => o.path.endsWith('userVolume')))
})

test('denies a user entry under our name that differs from ours', () => {
  const message = denied({ metadata: { annotations: { 'sidecar.istio.io/userVolumeMount': '{"egress-mtls-bank-api":{"mountPath":"/mine"}}' } } }, [bank])
  assert.equal(message, 'EMTLS_USER_VOLUME_CONFLICT: pod template annotation sidecar.istio.io/userVolumeMount already has an entry "egress-mtls-bank-api" that is not ' +
    'the one egress-mtls writes for target bank-api ({"egress-mtls-bank-api":{"mountPath":"/etc/egress-mtls/bank-api","readOnly":true}}); rename or remove it')
})

test('a map-form entry whose inner "name" differs from its key, either way round, is denied where it touches ours (Istio\'s injector names it after "name": test/istio/injection.test.ts)', () => {
  const mount = JSON.stringify({ mountPath: '/etc/egress-mtls/bank-api', readOnly: true })
  // Ours under another inner name: istio-proxy would mount volume "elsewhere" at our path (sameEntry alone ignored the inner name).
  assert.equal(denied({ metadata: { annotations: { 'sidecar.istio.io/userVolumeMount': `{"egress-mtls-bank-api":{"name":"elsewhere",${mount.slice(1)}}` } } }, [bank]),
    'EMTLS_USER_VOLUME_NAME_MISMATCH: pod template annotation sidecar.istio.io/userVolumeMount has an entry "egress-mtls-bank-api" whose "name" is "elsewhere": ' +
    'Istio\'s injector names it after "name", not the key, so it would clash with or stand in for egress-mtls\'s "egress-mtls-bank-api"; give the entry a "name" equal to its key, or none')
  // Another key naming ours: a second volume egress-mtls-bank-api, from the user's Secret.
  assert.match(denied({ metadata: { annotations: { 'sidecar.istio.io/userVolume': '{"cache":{"name":"egress-mtls-bank-api","secret":{"secretName":"mine"}}}' } } }, [bank]),
    /^EMTLS_USER_VOLUME_NAME_MISMATCH: pod template annotation sidecar\.istio\.io\/userVolume has an entry "cache" whose "name" is "egress-mtls-bank-api": .* egress-mtls's "egress-mtls-bank-api";/)
  // Not ours: the user's own business, kept as written; a "name" equal to the key is no mismatch.
  const theirs = '{"cache":{"name":"scratch","emptyDir":{}}}'
  assert.equal(annotation(run({ metadata: { annotations: { 'sidecar.istio.io/userVolume': theirs } } }, [bank]).template, 'sidecar.istio.io/userVolume')?.startsWith('{"cache":{"name":"scratch","emptyDir":{}},'), true)
  const same = JSON.stringify({ 'egress-mtls-bank-api': { name: 'egress-mtls-bank-api', ...BANK_VOLUME } })
  assert.equal(annotation(run({ metadata: { annotations: { 'sidecar.istio.io/userVolume': same } } }, [bank]).template, 'sidecar.istio.io/userVolume'), same)
})

test('denies a value that is not JSON or not one of the two forms, when it has to touch it', () => {
  assert.match(denied({ metadata: { annotations: { 'sidecar.istio.io/userVolume': '{cache: {}}' } } }),
    /^EMTLS_USER_VOLUME_UNREADABLE: pod template annotation sidecar\.istio\.io\/userVolume is not valid JSON \(/)
  assert.equal(denied({ metadata: { annotations: { 'sidecar.istio.io/userVolumeMount': '"cache"' } } }),
    'EMTLS_USER_VOLUME_UNREADABLE: pod template annotation sidecar.istio.io/userVolumeMount is neither a JSON object keyed by name nor a JSON array of named items')
  // removing needs reading too
  assert.match(denied({ metadata: { annotations: { 'egress-mtls.io/injected': 'bank-api', 'sidecar.istio.io/userVolume': '[' } } }, []), /not valid JSON/)
  // nothing to inject, nothing of ours: the user's value is not our business
  assert.deepEqual(mutatePodTemplate(['spec', 'template'], { exists: true, annotations: { 'sidecar.istio.io/userVolume': '[' } }, [], config), { ok: true, value: [] })
})

test('a label value of ours set otherwise is corrected; a user label elsewhere under the prefix is left alone', () => {
  const { template } = run({ metadata: { labels: { 'egress-mtls.io/bank-api': 'false', 'egress-mtls.io/inject': 'true' } } }, [bank])
  assert.deepEqual(template.metadata?.labels, { 'egress-mtls.io/bank-api': 'true', 'egress-mtls.io/inject': 'true' })
})

test('origination egressGateway: the label and the record only; no volume, no mount, no userVolume annotation', () => {
  const gw: Config['targets'][number] = { ...bank, origination: 'egressGateway' }
  const { template } = run({ metadata: { labels: { app: 'x' } } }, [gw])
  assert.deepEqual(template, { metadata: { labels: { app: 'x', 'egress-mtls.io/bank-api': 'true' }, annotations: { 'egress-mtls.io/injected': 'bank-api' } } })
  // beside a sidecar target: only that one's volume
  const both = run({}, [gw, tax]).template
  assert.deepEqual(JSON.parse(annotation(both, 'sidecar.istio.io/userVolume') ?? ''), { 'egress-mtls-tax-gw': TAX_VOLUME })
  assert.deepEqual(JSON.parse(annotation(both, 'sidecar.istio.io/userVolumeMount') ?? ''), { 'egress-mtls-tax-gw': TAX_MOUNT })
  assert.equal(annotation(both, 'egress-mtls.io/injected'), 'bank-api,tax-gw')
})

test('a target moved from sidecar to egressGateway loses its volume and mount on the next admission, keeps its label', () => {
  const sidecarMode = run({ metadata: { annotations: { 'sidecar.istio.io/userVolume': JSON.stringify({ mine: USER_VOLUME }) } } }, [bank]).template
  assert.ok(annotation(sidecarMode, 'sidecar.istio.io/userVolumeMount') !== undefined)
  const { template } = run(sidecarMode, [{ ...bank, origination: 'egressGateway' }])
  assert.deepEqual(template.metadata, {
    annotations: { 'sidecar.istio.io/userVolume': JSON.stringify({ mine: USER_VOLUME }), 'egress-mtls.io/injected': 'bank-api' },
    labels: { 'egress-mtls.io/bank-api': 'true' },
  })
})

test('tlsStats: proxy.istio.io/config keeps the TLS statistics of each sidecar target\'s outbound clusters; the user\'s own value is never rewritten', async (t) => {
  const stats = { ...config, tlsStats: true }
  const PROXY = 'proxy.istio.io/config'
  const regexp = (host: string): string => `cluster\\.outbound\\|[0-9]+\\|\\|${host.replaceAll('.', '\\.')};\\.ssl\\..*`
  const ours = (...hosts: string[]): string => JSON.stringify({ proxyStatsMatcher: { inclusionRegexps: hosts.map(regexp) } })
  await t.test('off by default: no annotation', () => {
    assert.equal(annotation(run({}).template, PROXY), undefined)
  })
  await t.test('on: one regexp per host, sorted, compact JSON; the regexps match the stat names and nothing of another host', () => {
    const { template } = run({}, [bank, tax], stats)
    assert.equal(annotation(template, PROXY), ours('api.bank.example.com', 'gw.tax.example.org'))
    const [r] = (JSON.parse(annotation(template, PROXY) ?? '') as { proxyStatsMatcher: { inclusionRegexps: string[] } }).proxyStatsMatcher.inclusionRegexps
    const full = new RegExp(`^${r ?? ''}$`)
    for (const name of ['handshake', 'connection_error', 'fail_verify_error', 'fail_verify_san', 'fail_verify_no_cert']) {
      assert.ok(full.test(`cluster.outbound|443||api.bank.example.com;.ssl.${name}`), name)
    }
    assert.ok(!full.test('cluster.outbound|443||apixbank.example.com;.ssl.handshake'), 'dots are literal')
    assert.ok(!full.test('cluster.outbound|443||api.bank.example.com;.upstream_cx_total'), 'only ssl.*')
    assert.ok(!full.test('cluster.inbound|443||api.bank.example.com;.ssl.handshake'), 'outbound only')
  })
  await t.test('an egressGateway target has no sidecar TLS to count: none for it', () => {
    const gw = { ...bank, origination: 'egressGateway' as const }
    assert.equal(annotation(run({}, [gw], stats).template, PROXY), undefined)
    assert.equal(annotation(run({}, [gw, tax], stats).template, PROXY), ours('gw.tax.example.org'))
  })
  await t.test('ours follows the targets and the switch: rewritten, then removed', () => {
    const both = run({}, [bank, tax], stats).template
    const one = run(both, [bank], stats).template
    assert.equal(annotation(one, PROXY), ours('api.bank.example.com'))
    assert.equal(annotation(run(one, [bank], config).template, PROXY), undefined, 'switched off')
    assert.equal(annotation(run(one, [], stats).template, PROXY), undefined, 'opted out')
  })
  await t.test('the user\'s value, whatever it says, is kept as written, on and off', () => {
    for (const value of ['concurrency: 2', '{"proxyStatsMatcher":{"inclusionPrefixes":["cluster.outbound"]}}', `{"proxyStatsMatcher": {"inclusionRegexps": ["${regexp('x').replaceAll('\\', '\\\\')}"]}}`, ours('api.bank.example.com') + ' ']) {
      for (const c of [stats, config]) {
        const { template } = run({ metadata: { annotations: { [PROXY]: value } } }, [bank], c)
        assert.equal(annotation(template, PROXY), value)
      }
    }
  })
})
