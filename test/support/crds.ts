// Istio's CustomResourceDefinitions and the Gateway API's (which Istio's waypoints use)
// installed on the test control plane, and the wait until they are Established and served.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'

import { kubeJson, kubeRequest } from './kube.ts'
import { repoRoot } from './repo.ts'

/** Istio CRDs used by the tier: $ISTIO_CRDS, else the repository's test/fixtures/istio/crds-1.30.3.yaml. */
export function istioCrdsPath (): string {
  const fromEnv = process.env['ISTIO_CRDS']
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv)
  return resolve(repoRoot, 'test', 'fixtures', 'istio', 'crds-1.30.3.yaml')
}

/** The Gateway API's standard-channel CRDs Istio watches: test/fixtures/gateway-api (the version istio.io/istio pins). */
export function gatewayApiCrdsPath (): string {
  return resolve(repoRoot, 'test', 'fixtures', 'gateway-api', 'crds-v1.6.0-standard.yaml')
}

interface CrdDoc {
  kind?: unknown
  metadata?: { name?: unknown }
  status?: unknown
}

interface CrdStatus {
  metadata?: { name?: string }
  status?: { conditions?: { type?: string; status?: string; message?: string }[] }
}

/**
 * Server-side-applies every CustomResourceDefinition of `file` (default
 * istioCrdsPath()) and waits until all are Established. Returns their names.
 */
export async function installIstioCrds (kc: KubeConfig, file: string = istioCrdsPath(), timeoutMs = 60_000): Promise<string[]> {
  if (!existsSync(file)) {
    throw new Error(`Istio CRDs not found at ${file}: set ISTIO_CRDS to a file of Istio's CRDs`)
  }
  const docs = parseAllDocuments(await readFile(file, 'utf8'))
  const crds: CrdDoc[] = []
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`)
    const obj = d.toJS() as CrdDoc | null
    if (obj?.kind === 'CustomResourceDefinition') crds.push(obj)
  }
  const names: string[] = []
  await Promise.all(crds.map(async (crd) => {
    const name = crd.metadata?.name
    if (typeof name !== 'string') throw new Error(`${file}: a CRD without metadata.name`)
    names.push(name)
    delete crd.status
    await kubeJson(kc, {
      method: 'PATCH',
      path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=egress-mtls-e2e&force=true`,
      body: crd,
      contentType: 'application/apply-patch+yaml',
      timeoutMs: 60_000,
    })
  }))
  await waitCrdsEstablished(kc, names, timeoutMs)
  return names.sort()
}

/** Waits until every named CRD has condition Established=True (and NamesAccepted). */
export async function waitCrdsEstablished (kc: KubeConfig, names: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const want = new Set(names)
  let pending: string[] = [...want]
  while (pending.length > 0) {
    const list = (await kubeJson(kc, { path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions' })) as { items?: CrdStatus[] }
    const ok = new Set<string>()
    for (const item of list.items ?? []) {
      const established = item.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false
      if (established && item.metadata?.name !== undefined) ok.add(item.metadata.name)
    }
    pending = [...want].filter((n) => !ok.has(n))
    if (pending.length === 0) break
    if (Date.now() > deadline) throw new Error(`CRDs not Established after ${timeoutMs} ms: ${pending.join(', ')}`)
    await sleep(200)
  }
  // Discovery of the new groups can lag Established by a moment; wait for it too.
  const groups = new Set(names.map((n) => n.slice(n.indexOf('.') + 1)))
  for (const g of groups) {
    for (;;) {
      const r = await kubeRequest(kc, { path: `/apis/${g}` })
      if (r.status === 200) break
      if (Date.now() > deadline) throw new Error(`API group ${g} not served after ${timeoutMs} ms`)
      await sleep(200)
    }
  }
}
