// Every user flow of the webhook through a real kube-apiserver: the webhook runs here
// (real HTTPS on 127.0.0.1), registered by URL with its caBundle, using the
// MutatingWebhookConfiguration that the chart renders with only clientConfig swapped, so the
// selectors under test are the chart's own.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'

import { registerChartWebhook } from '../support/chart-webhook.ts'
import { type HttpResult, kubeJson, kubeRequest, loadKubeConfig } from '../support/kube.ts'
import { type FreshNamespace, freshNamespace } from '../support/namespaces.ts'
import { reloadConfig, startTestWebhook, type TestWebhook } from '../support/webhook.ts'

const WEBHOOK_CONFIG = 'egress-mtls-e2e-flows'
const USER_VOLUME = 'sidecar.istio.io/userVolume'
const USER_VOLUME_MOUNT = 'sidecar.istio.io/userVolumeMount'

interface Obj {
  metadata: { name: string, labels?: Record<string, string>, annotations?: Record<string, string>, resourceVersion?: string }
  spec: Record<string, unknown>
}
type Mode = 'label' | 'namespace' | 'cluster'

const podTemplate = (annotations: Record<string, string> = {}, restartPolicy?: string): Record<string, unknown> => ({
  metadata: { labels: { app: 'web' }, annotations },
  spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }], ...(restartPolicy === undefined ? {} : { restartPolicy }) },
})

function workload (
  kind: string,
  name: string,
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
  podAnnotations: Record<string, string> = {},
): Record<string, unknown> {
  const metadata = { name, labels, annotations }
  const selector = { matchLabels: { app: 'web' } }
  switch (kind) {
    case 'Deployment': case 'ReplicaSet': case 'DaemonSet':
      return { apiVersion: 'apps/v1', kind, metadata, spec: { selector, template: podTemplate(podAnnotations) } }
    case 'StatefulSet':
      return { apiVersion: 'apps/v1', kind, metadata, spec: { selector, serviceName: name, template: podTemplate(podAnnotations) } }
    case 'Job':
      return { apiVersion: 'batch/v1', kind, metadata, spec: { template: podTemplate(podAnnotations, 'Never') } }
    case 'CronJob':
      return { apiVersion: 'batch/v1', kind, metadata, spec: { schedule: '0 * * * *', jobTemplate: { spec: { template: podTemplate(podAnnotations, 'Never') } } } }
    default: throw new Error(kind)
  }
}

const collection = (kind: string, ns: string): string => {
  const group = kind === 'Job' || kind === 'CronJob' ? '/apis/batch/v1' : '/apis/apps/v1'
  return `${group}/namespaces/${ns}/${kind.toLowerCase()}s`
}

/** The pod template's metadata, wherever the kind keeps it. */
function templateMeta (kind: string, o: Obj): { labels: Record<string, string>, annotations: Record<string, string> } {
  const spec = kind === 'CronJob' ? (o.spec['jobTemplate'] as { spec: Record<string, unknown> }).spec : o.spec
  const m = (spec['template'] as { metadata?: { labels?: Record<string, string>, annotations?: Record<string, string> } }).metadata
  return { labels: m?.labels ?? {}, annotations: m?.annotations ?? {} }
}

/** The egress-mtls volumes in a template's userVolume annotation (map form). */
function injectedVolumes (kind: string, o: Obj): string[] {
  const value = templateMeta(kind, o).annotations[USER_VOLUME]
  return value === undefined ? [] : Object.keys(JSON.parse(value) as Record<string, unknown>).filter((k) => k.startsWith('egress-mtls-'))
}

describe('user flows against a real kube-apiserver', () => {
  let kc: KubeConfig
  let hook: TestWebhook
  let payments: FreshNamespace // targets bank-api and tax-gw; no namespace label
  let empty: FreshNamespace // no target at all
  let enabled: FreshNamespace // egress-mtls.io/injection=enabled; bank-api
  let excluded: FreshNamespace // cluster mode: in excludeNamespaces; bank-api
  const namespaces: FreshNamespace[] = []

  const configFor = (mode: Mode, targets = ['bank-api', 'tax-gw']): string => [
    `injection: ${mode}`,
    `excludeNamespaces: [${excluded.name}]`,
    'targets:',
    ...(targets.includes('bank-api') ? [`  - { name: bank-api, host: api.bank.example.com, namespaces: [${payments.name}, ${enabled.name}, ${excluded.name}] }`] : []),
    ...(targets.includes('tax-gw') ? [`  - { name: tax-gw, host: gw.tax.example.org, namespaces: [${payments.name}] }`] : []),
  ].join('\n')

  const configure = (text: string): Promise<void> => reloadConfig(hook, text)

  /** The chart's MutatingWebhookConfiguration for `mode`, pointed at this process's webhook. */
  async function register (mode: Mode): Promise<void> {
    await registerChartWebhook(kc, {
      name: WEBHOOK_CONFIG,
      set: [`config.injection=${mode}`, `config.excludeNamespaces={${excluded.name}}`],
      port: hook.webhook.port,
      ca: hook.ca.cert,
      namespaces: namespaces.map((n) => n.name),
    })
    // The API server picks the new configuration up asynchronously: wait for a dry-run
    // probe that only this mode injects (modes are registered in the order label,
    // namespace, cluster).
    const probe = {
      label: { ns: payments.name, labels: { 'egress-mtls.io/inject': 'true' } },
      namespace: { ns: enabled.name, labels: {} },
      cluster: { ns: payments.name, labels: {} },
    }[mode]
    const deadline = Date.now() + 20_000
    for (;;) {
      const r = await create(probe.ns, workload('Deployment', 'probe', probe.labels), true)
      if (r.status === 201 && injectedVolumes('Deployment', JSON.parse(r.body) as Obj).length > 0) return
      if (Date.now() > deadline) throw new Error(`the ${mode}-mode webhook configuration did not take effect: ${r.status} ${r.body.slice(0, 300)}`)
      await sleep(200)
    }
  }

  const create = (ns: string, obj: Record<string, unknown>, dryRun = false): Promise<HttpResult> =>
    kubeRequest(kc, { method: 'POST', path: `${collection(String(obj['kind']), ns)}${dryRun ? '?dryRun=All' : ''}`, body: obj })

  async function created (ns: string, obj: Record<string, unknown>): Promise<Obj> {
    const r = await create(ns, obj)
    assert.equal(r.status, 201, r.body)
    return JSON.parse(r.body) as Obj
  }

  const read = async (kind: string, ns: string, name: string): Promise<Obj> =>
    await kubeJson(kc, { path: `${collection(kind, ns)}/${name}` }) as Obj

  const mergePatch = async (kind: string, ns: string, name: string, patch: unknown): Promise<Obj> =>
    await kubeJson(kc, { method: 'PATCH', path: `${collection(kind, ns)}/${name}`, body: patch, contentType: 'application/merge-patch+json' }) as Obj

  before(async () => {
    kc = loadKubeConfig()
    payments = await freshNamespace(kc, 'flows-payments')
    empty = await freshNamespace(kc, 'flows-empty')
    enabled = await freshNamespace(kc, 'flows-enabled', { 'egress-mtls.io/injection': 'enabled' })
    excluded = await freshNamespace(kc, 'flows-excluded')
    namespaces.push(payments, empty, enabled, excluded)
    hook = await startTestWebhook({ config: configFor('label') })
    await register('label')
  })

  after(async () => {
    await kubeRequest(kc, { method: 'DELETE', path: `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK_CONFIG}` })
    await hook.webhook.close(1_000)
    for (const ns of namespaces) await ns.cleanup()
  })

  test('label mode: a labelled Deployment is stored with the mounts, an unlabelled one is not', async () => {
    await created(payments.name, workload('Deployment', 'labelled', { 'egress-mtls.io/inject': 'true' }))
    const stored = await read('Deployment', payments.name, 'labelled')
    const meta = templateMeta('Deployment', stored)
    assert.deepEqual(JSON.parse(meta.annotations[USER_VOLUME] ?? ''), {
      'egress-mtls-bank-api': { secret: { secretName: 'bank-api-mtls', items: [{ key: 'cert', path: 'cert' }, { key: 'key', path: 'key' }, { key: 'cacert', path: 'cacert' }] } },
      'egress-mtls-tax-gw': { secret: { secretName: 'tax-gw-mtls', items: [{ key: 'cert', path: 'cert' }, { key: 'key', path: 'key' }, { key: 'cacert', path: 'cacert' }] } },
    })
    assert.deepEqual(JSON.parse(meta.annotations[USER_VOLUME_MOUNT] ?? ''), {
      'egress-mtls-bank-api': { mountPath: '/etc/egress-mtls/bank-api', readOnly: true },
      'egress-mtls-tax-gw': { mountPath: '/etc/egress-mtls/tax-gw', readOnly: true },
    })
    assert.equal(meta.annotations['egress-mtls.io/injected'], 'bank-api,tax-gw')
    assert.equal(meta.labels['egress-mtls.io/bank-api'], 'true')
    assert.equal(meta.labels['egress-mtls.io/tax-gw'], 'true')
    assert.equal(stored.metadata.labels?.['egress-mtls.io/bank-api'], undefined, 'the workload\'s own metadata is untouched')

    await created(payments.name, workload('Deployment', 'plain'))
    assert.deepEqual(templateMeta('Deployment', await read('Deployment', payments.name, 'plain')).annotations, {})
  })

  test('label mode: labelling an existing Deployment (an UPDATE) injects it', async () => {
    await created(payments.name, workload('Deployment', 'later'))
    const updated = await mergePatch('Deployment', payments.name, 'later', { metadata: { labels: { 'egress-mtls.io/inject': 'true' } } })
    assert.deepEqual(injectedVolumes('Deployment', updated), ['egress-mtls-bank-api', 'egress-mtls-tax-gw'])
  })

  test('narrowing the targets, then changing the configuration, removes what no longer applies and nothing else', async () => {
    const userVolume = JSON.stringify({ 'my-cache': { emptyDir: {} } })
    await created(payments.name, workload('Deployment', 'narrow', { 'egress-mtls.io/inject': 'true' }, {}, { [USER_VOLUME]: userVolume, team: 'payments' }))
    let o = await mergePatch('Deployment', payments.name, 'narrow', { metadata: { annotations: { 'egress-mtls.io/targets': 'tax-gw' } } })
    let meta = templateMeta('Deployment', o)
    assert.deepEqual(Object.keys(JSON.parse(meta.annotations[USER_VOLUME] ?? '') as object), ['my-cache', 'egress-mtls-tax-gw'])
    assert.equal(meta.labels['egress-mtls.io/bank-api'], undefined)
    assert.equal(meta.annotations['egress-mtls.io/injected'], 'tax-gw')
    assert.equal(meta.annotations['team'], 'payments')

    await configure(configFor('label', ['bank-api']))
    try {
      o = await mergePatch('Deployment', payments.name, 'narrow', { metadata: { annotations: { touched: 'yes' } } })
      meta = templateMeta('Deployment', o)
      assert.deepEqual(JSON.parse(meta.annotations[USER_VOLUME] ?? ''), { 'my-cache': { emptyDir: {} } }, 'exactly the user\'s entries are left')
      assert.equal(meta.annotations[USER_VOLUME_MOUNT], undefined)
      assert.equal(meta.annotations['egress-mtls.io/injected'], undefined)
      assert.deepEqual(meta.labels, { app: 'web' })
    } finally {
      await configure(configFor('label'))
    }
  })

  for (const kind of ['StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']) {
    test(`label mode: a labelled ${kind} is injected`, async () => {
      await created(payments.name, workload(kind, `k-${kind.toLowerCase()}`, { 'egress-mtls.io/inject': 'true' }))
      assert.deepEqual(injectedVolumes(kind, await read(kind, payments.name, `k-${kind.toLowerCase()}`)), ['egress-mtls-bank-api', 'egress-mtls-tax-gw'])
    })
  }

  test('dryRun=All returns the mutated object and stores nothing', async () => {
    const r = await create(payments.name, workload('Deployment', 'dry', { 'egress-mtls.io/inject': 'true' }), true)
    assert.equal(r.status, 201, r.body)
    assert.deepEqual(injectedVolumes('Deployment', JSON.parse(r.body) as Obj), ['egress-mtls-bank-api', 'egress-mtls-tax-gw'])
    const stored = await kubeRequest(kc, { path: `${collection('Deployment', payments.name)}/dry` })
    assert.equal(stored.status, 404)
  })

  test('warnings reach the client in the Warning header; a denial\'s message reaches it', async () => {
    const warned = await create(empty.name, workload('Deployment', 'nothing', { 'egress-mtls.io/inject': 'true' }))
    assert.equal(warned.status, 201, warned.body)
    assert.match(String(warned.headers['warning']), /egress-mtls/)
    assert.deepEqual(injectedVolumes('Deployment', JSON.parse(warned.body) as Obj), [])

    const unknown = await create(payments.name, workload('Deployment', 'unknown', { 'egress-mtls.io/inject': 'true' }, { 'egress-mtls.io/targets': 'bank-api,nope' }))
    assert.equal(unknown.status, 201, unknown.body)
    assert.match(String(unknown.headers['warning']), /nope/)
    assert.deepEqual(injectedVolumes('Deployment', JSON.parse(unknown.body) as Obj), ['egress-mtls-bank-api'])

    const denied = await create(payments.name, workload('Deployment', 'broken', { 'egress-mtls.io/inject': 'true' }, {}, { [USER_VOLUME]: '{not json' }))
    assert.equal(denied.status, 400, denied.body)
    const status = JSON.parse(denied.body) as { message: string }
    assert.match(status.message, /denied the request/)
    assert.match(status.message, /sidecar\.istio\.io\/userVolume/)
  })

  test('targets sharing a host: a workload naming one gets it, one naming none the others and a warning, one naming two is denied', async () => {
    const IN = { 'egress-mtls.io/inject': 'true' }
    await configure(`${configFor('label')}\n  - { name: bank-b, host: api.bank.example.com, namespaces: [${payments.name}] }`)
    try {
      const one = await create(payments.name, workload('Deployment', 'merchant-b', IN, { 'egress-mtls.io/targets': 'bank-b' }))
      assert.equal(one.status, 201, one.body)
      assert.deepEqual(injectedVolumes('Deployment', JSON.parse(one.body) as Obj), ['egress-mtls-bank-b'])

      const none = await create(payments.name, workload('Deployment', 'no-choice', IN))
      assert.equal(none.status, 201, none.body)
      assert.match(String(none.headers['warning']), /targets bank-api, bank-b share host api\.bank\.example\.com/)
      assert.deepEqual(injectedVolumes('Deployment', JSON.parse(none.body) as Obj), ['egress-mtls-tax-gw'])

      const both = await create(payments.name, workload('Deployment', 'both', IN, { 'egress-mtls.io/targets': 'bank-api,bank-b' }))
      assert.equal(both.status, 400, both.body)
      assert.match((JSON.parse(both.body) as { message: string }).message, /names bank-api and bank-b, targets of one host api\.bank\.example\.com/)
    } finally {
      await configure(configFor('label'))
    }
  })

  test('namespace mode (the chart\'s selectors): labelled namespaces are injected, opt-out honoured', async () => {
    await configure(configFor('namespace'))
    await register('namespace')
    await created(enabled.name, workload('Deployment', 'auto'))
    assert.deepEqual(injectedVolumes('Deployment', await read('Deployment', enabled.name, 'auto')), ['egress-mtls-bank-api'])
    await created(enabled.name, workload('Deployment', 'optout', { 'egress-mtls.io/inject': 'false' }))
    assert.deepEqual(injectedVolumes('Deployment', await read('Deployment', enabled.name, 'optout')), [])
    await created(payments.name, workload('Deployment', 'ns-unlabelled', { 'egress-mtls.io/inject': 'true' }))
    assert.deepEqual(injectedVolumes('Deployment', await read('Deployment', payments.name, 'ns-unlabelled')), [], 'a namespace without the label is left alone')
  })

  test('cluster mode (the chart\'s selectors): every namespace but the excluded ones, opt-out honoured', async () => {
    await configure(configFor('cluster'))
    await register('cluster')
    await created(payments.name, workload('Deployment', 'everywhere'))
    assert.deepEqual(injectedVolumes('Deployment', await read('Deployment', payments.name, 'everywhere')), ['egress-mtls-bank-api', 'egress-mtls-tax-gw'])
    await created(payments.name, workload('Deployment', 'cluster-optout', { 'egress-mtls.io/inject': 'false' }))
    assert.deepEqual(injectedVolumes('Deployment', await read('Deployment', payments.name, 'cluster-optout')), [])
    await created(excluded.name, workload('Deployment', 'excluded'))
    assert.deepEqual(injectedVolumes('Deployment', await read('Deployment', excluded.name, 'excluded')), [], 'excludeNamespaces is honoured')
  })
})
