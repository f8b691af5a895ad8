// The chart's MutatingWebhookConfiguration registered by URL for a webhook that runs in the
// test process (end-to-end tier): `helm template` with the given values, renamed, each
// webhook pointed at 127.0.0.1 and narrowed to the test's own namespaces.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

import type { KubeConfig } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'

import { HELM_ENV } from './binaries.ts'
import { kubeJson } from './kube.ts'
import { repoRoot } from './repo.ts'

export interface ChartWebhook {
  /** The MutatingWebhookConfiguration's name (it is applied server-side, so a second call updates it). */
  readonly name: string
  /** `--set` values, e.g. config.injection=label. */
  readonly set: readonly string[]
  /** The webhook's HTTPS port on 127.0.0.1 and the PEM of the CA that issued its certificate. */
  readonly port: number
  readonly ca: string
  /** The only namespaces it sees (besides the chart's own selectors). */
  readonly namespaces: readonly string[]
}

export async function registerChartWebhook (kc: KubeConfig, w: ChartWebhook): Promise<void> {
  const helm = process.env[HELM_ENV]
  assert.ok(helm !== undefined && helm !== '', `${HELM_ENV} is set by test/e2e/global-setup.ts`)
  const out = execFileSync(helm, [
    'template', 'egress-mtls', join(repoRoot, 'charts/egress-mtls'), '--namespace', 'egress-mtls', ...w.set.flatMap((s) => ['--set', s]),
  ], { encoding: 'utf8' })
  interface Rendered { kind?: string, metadata: { name: string }, webhooks: Record<string, unknown>[] }
  const mwc = parseAllDocuments(out).map((d) => d.toJS() as Rendered)
    .find((o) => o.kind === 'MutatingWebhookConfiguration')
  assert.ok(mwc !== undefined, 'the chart renders a MutatingWebhookConfiguration')
  mwc.metadata.name = w.name
  for (const hook of mwc.webhooks) {
    hook['clientConfig'] = { url: `https://127.0.0.1:${w.port}/mutate`, caBundle: Buffer.from(w.ca).toString('base64') }
    // The control plane is shared with other test files, which register webhooks and set up
    // workloads of their own meanwhile: this webhook sees only the test's namespaces.
    const selector = (hook['namespaceSelector'] ?? {}) as { matchExpressions?: unknown[] }
    hook['namespaceSelector'] = {
      ...selector,
      matchExpressions: [...(selector.matchExpressions ?? []), { key: 'kubernetes.io/metadata.name', operator: 'In', values: w.namespaces }],
    }
  }
  await kubeJson(kc, {
    method: 'PATCH',
    path: `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${w.name}?fieldManager=e2e&force=true`,
    body: mwc,
    contentType: 'application/apply-patch+yaml',
  })
}
