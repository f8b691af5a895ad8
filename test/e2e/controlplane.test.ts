// Proves the end-to-end harness: a real kube-apiserver at the pinned version, Istio's
// CRDs Established, namespaces, and CRD schema validation on server-side apply.
// Runs under test/e2e/global-setup.ts (EGRESS_MTLS_E2E_KUBECONFIG).

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

import { ApiextensionsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node'

import { kubeJson, kubeRequest, loadKubeConfig } from '../support/kube.ts'
import { type FreshNamespace, freshNamespace } from '../support/namespaces.ts'
import { repoRoot } from '../support/repo.ts'

interface VersionInfo {
  gitVersion?: string
  major?: string
  minor?: string
}

interface Status {
  kind?: string
  code?: number
  reason?: string
  message?: string
}

/** The k8s.io/kubernetes version pinned in scripts/controlplane/go.mod. */
function pinnedKubernetesVersion (): string {
  const gomod = readFileSync(join(repoRoot, 'scripts', 'controlplane', 'go.mod'), 'utf8')
  const m = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)/m.exec(gomod)
  assert.ok(m?.[1] !== undefined, 'k8s.io/kubernetes version in scripts/controlplane/go.mod')
  return m[1]
}

function destinationRule (name: string, namespace: string, mode: string): Record<string, unknown> {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name, namespace },
    spec: {
      host: 'api.bank.example.com',
      trafficPolicy: {
        portLevelSettings: [
          {
            port: { number: 80 },
            tls: {
              mode,
              clientCertificate: '/etc/egress-mtls/bank-api/cert',
              privateKey: '/etc/egress-mtls/bank-api/key',
              caCertificates: '/etc/egress-mtls/bank-api/cacert',
              sni: 'api.bank.example.com',
            },
          },
        ],
      },
    },
  }
}

async function applyDestinationRule (kc: KubeConfig, obj: Record<string, unknown>, name: string, ns: string) {
  return kubeRequest(kc, {
    method: 'PATCH',
    path: `/apis/networking.istio.io/v1/namespaces/${ns}/destinationrules/${name}?fieldManager=egress-mtls-e2e-test&force=true`,
    body: obj,
    contentType: 'application/apply-patch+yaml',
  })
}

describe('e2e control plane', () => {
  let kc: KubeConfig
  let ns: FreshNamespace | undefined

  before(() => {
    kc = loadKubeConfig()
  })

  after(async () => {
    await ns?.cleanup()
  })

  test('kube-apiserver /version reports the pinned Kubernetes release, not v0.0.0', async () => {
    const v = (await kubeJson(kc, { path: '/version' })) as VersionInfo
    const gitVersion = v.gitVersion ?? ''
    assert.doesNotMatch(gitVersion, /^v0\.0\.0/, 'version ldflags were applied')
    assert.equal(v.major, '1')
    if (process.env['KUBEBUILDER_ASSETS'] === undefined || process.env['KUBEBUILDER_ASSETS'] === '') {
      const pinned = pinnedKubernetesVersion()
      assert.equal(gitVersion, pinned)
      assert.match(gitVersion, /^v1\.34\.\d+$/)
      assert.equal(v.minor, '34')
    } else {
      assert.match(gitVersion, /^v1\.\d+\.\d+/)
    }
  })

  test('/readyz is ok and the admin certificate is in system:masters', async () => {
    const ready = await kubeRequest(kc, { path: '/readyz' })
    assert.equal(ready.status, 200, ready.body)
    const review = (await kubeJson(kc, {
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    })) as { status?: { userInfo?: { username?: string; groups?: string[] } } }
    assert.ok(review.status?.userInfo?.groups?.includes('system:masters'), JSON.stringify(review))
  })

  test('Istio CRDs ServiceEntry, DestinationRule, VirtualService are Established', async () => {
    const api = kc.makeApiClient(ApiextensionsV1Api)
    for (const name of [
      'serviceentries.networking.istio.io',
      'destinationrules.networking.istio.io',
      'virtualservices.networking.istio.io',
    ]) {
      const crd = await api.readCustomResourceDefinition({ name })
      const established = crd.status?.conditions?.find((c) => c.type === 'Established')
      assert.equal(established?.status, 'True', `${name} Established`)
      assert.ok(crd.spec.versions.some((v) => v.name === 'v1' && v.served), `${name} serves v1`)
    }
  })

  test('a fresh namespace can be created', async () => {
    ns = await freshNamespace(kc, 'e2e-controlplane')
    assert.match(ns.name, /^e2e-controlplane-[0-9a-f]{8}$/)
    const got = await kc.makeApiClient(CoreV1Api).readNamespace({ name: ns.name })
    assert.equal(got.metadata?.name, ns.name)
    assert.equal(got.metadata.labels?.['egress-mtls.io/e2e'], 'true')
  })

  test('server-side apply: a valid DestinationRule is accepted, tls.mode BOGUS is rejected by the schema', async () => {
    ns ??= await freshNamespace(kc, 'e2e-controlplane')
    const good = await applyDestinationRule(kc, destinationRule('bank-api', ns.name, 'MUTUAL'), 'bank-api', ns.name)
    assert.ok(good.status === 200 || good.status === 201, `valid DestinationRule: HTTP ${good.status}: ${good.body}`)
    const stored = JSON.parse(good.body) as { metadata?: { resourceVersion?: string; managedFields?: { manager?: string }[] } }
    assert.ok(stored.metadata?.resourceVersion)
    assert.ok(stored.metadata.managedFields?.some((f) => f.manager === 'egress-mtls-e2e-test'))

    const bad = await applyDestinationRule(kc, destinationRule('bank-api-bad', ns.name, 'BOGUS'), 'bank-api-bad', ns.name)
    assert.equal(bad.status, 422, bad.body)
    const status = JSON.parse(bad.body) as Status
    assert.equal(status.reason, 'Invalid')
    assert.match(status.message ?? '', /spec\.trafficPolicy\.portLevelSettings\[0\]\.tls\.mode/)
    assert.match(status.message ?? '', /Unsupported value: "BOGUS"/)

    const missing = await kubeRequest(kc, { path: `/apis/networking.istio.io/v1/namespaces/${ns.name}/destinationrules/bank-api-bad` })
    assert.equal(missing.status, 404, 'the invalid object was not stored')
  })
})
