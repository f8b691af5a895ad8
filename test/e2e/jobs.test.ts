// A Job's pod template is immutable once created: an opted-in Job must stay relabellable and
// deletable after the configuration changed. Real kube-apiserver, the webhook running here
// (real HTTPS on 127.0.0.1) registered by URL with the chart's MutatingWebhookConfiguration
// (label mode, narrowed to this test's namespace), as test/e2e/flows.test.ts does.
// No controller-manager runs: the test removes the foregroundDeletion finalizer with an
// UPDATE, as the garbage collector would.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'

import { reloadConfig, startTestWebhook, type TestWebhook } from '../integration/helpers.ts'
import { registerChartWebhook } from '../support/chart-webhook.ts'
import { type FreshNamespace, freshNamespace, kubeJson, kubeRequest, loadKubeConfig } from './harness.ts'

const WEBHOOK_CONFIG = 'egress-mtls-e2e-jobs'
const USER_VOLUME = 'sidecar.istio.io/userVolume'

interface Job {
  metadata: { name: string, labels?: Record<string, string>, finalizers?: string[], deletionTimestamp?: string, resourceVersion?: string }
  spec: { template: { metadata?: { labels?: Record<string, string>, annotations?: Record<string, string> } } }
}

let kc: KubeConfig
let hook: TestWebhook
let ns: FreshNamespace

const config = (targets: string, mountRoot = '/etc/egress-mtls'): string => [
  'injection: label',
  `mountRoot: ${mountRoot}`,
  'targets:',
  ...targets.split(',').map((t) => `  - { name: ${t}, host: ${t}.example.com, namespaces: [${ns.name}] }`),
].join('\n')

const jobs = (): string => `/apis/batch/v1/namespaces/${ns.name}/jobs`

const configure = (text: string): Promise<void> => reloadConfig(hook, text)

/** The chart's label-mode MutatingWebhookConfiguration, pointed at this webhook and this test's namespace only. */
async function register (): Promise<void> {
  await registerChartWebhook(kc, { name: WEBHOOK_CONFIG, set: ['config.injection=label'], port: hook.webhook.port, ca: hook.ca.cert, namespaces: [ns.name] })
  // The API server picks the configuration up asynchronously: wait for a dry-run Job to be injected.
  const deadline = Date.now() + 20_000
  for (;;) {
    const r = await kubeRequest(kc, { method: 'POST', path: `${jobs()}?dryRun=All`, body: job('probe') })
    if (r.status === 201 && (JSON.parse(r.body) as Job).spec.template.metadata?.annotations?.[USER_VOLUME] !== undefined) return
    if (Date.now() > deadline) throw new Error(`the webhook configuration did not take effect: ${r.status} ${r.body.slice(0, 300)}`)
    await sleep(200)
  }
}

function job (name: string): Record<string, unknown> {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels: { 'egress-mtls.io/inject': 'true' } },
    spec: {
      suspend: false,
      backoffLimit: 0,
      template: {
        metadata: { labels: { app: 'export' } },
        spec: { restartPolicy: 'Never', containers: [{ name: 'app', image: 'registry.invalid/export:1' }] },
      },
    },
  }
}

before(async () => {
  kc = loadKubeConfig()
  ns = await freshNamespace(kc, 'jobs')
  hook = await startTestWebhook({ config: config('bank-api,tax-gw') })
  await register()
})

after(async () => {
  await kubeRequest(kc, { method: 'DELETE', path: `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK_CONFIG}` })
  await hook.webhook.close(1_000)
  await ns.cleanup()
})

test('an opted-in Job injected on CREATE can be relabelled and deleted with foreground propagation after the configuration changed', async () => {
  const created = await kubeRequest(kc, { method: 'POST', path: jobs(), body: job('export') })
  assert.equal(created.status, 201, created.body)
  const template = (JSON.parse(created.body) as Job).spec.template
  assert.deepEqual(Object.keys(JSON.parse(template.metadata?.annotations?.[USER_VOLUME] ?? '{}') as object), ['egress-mtls-bank-api', 'egress-mtls-tax-gw'])
  assert.equal(template.metadata?.annotations?.['egress-mtls.io/injected'], 'bank-api,tax-gw')

  // tax-gw is gone and bank-api's mount moved: the stored template is stale now.
  await configure(config('bank-api', '/var/run/egress-mtls'))

  const labelled = await kubeRequest(kc, {
    method: 'PATCH', path: `${jobs()}/export`, body: { metadata: { labels: { team: 'reporting' } } }, contentType: 'application/merge-patch+json',
  })
  assert.equal(labelled.status, 200, labelled.body)
  assert.match(String(labelled.headers['warning']), /egress-mtls: the pod template of this Job is left as it is/)
  const relabelled = JSON.parse(labelled.body) as Job
  assert.equal(relabelled.metadata.labels?.['team'], 'reporting')
  assert.deepEqual(relabelled.spec.template.metadata?.annotations, template.metadata.annotations, 'the pod template is as it was created')

  const deleting = await kubeRequest(kc, {
    method: 'DELETE', path: `${jobs()}/export?propagationPolicy=Foreground`,
  })
  assert.ok(deleting.status === 200 || deleting.status === 202, deleting.body)
  const pending = await kubeJson(kc, { path: `${jobs()}/export` }) as Job
  assert.ok(pending.metadata.deletionTimestamp !== undefined, 'foreground deletion waits for the finalizer')
  assert.deepEqual(pending.metadata.finalizers, ['foregroundDeletion'])

  // The garbage collector, once the dependents are gone: an UPDATE without the finalizer.
  pending.metadata.finalizers = []
  const finalized = await kubeRequest(kc, { method: 'PUT', path: `${jobs()}/export`, body: pending })
  assert.equal(finalized.status, 200, finalized.body)
  const gone = await kubeRequest(kc, { path: `${jobs()}/export` })
  assert.equal(gone.status, 404, gone.body)
})
