// The chart's keyBoundary option on a real API server: its ValidatingAdmissionPolicy,
// rendered by real helm from a configuration, refuses pods in which a container other than
// istio-proxy mounts a volume of a target Secret (directly or projected, as a container, an
// init container or an ephemeral container), and lets istio-proxy and other Secrets be.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import { parseAllDocuments, stringify } from 'yaml'

import { HELM_ENV } from '../support/binaries.ts'
import { kubeJson, kubeRequest, loadKubeConfig } from '../support/kube.ts'
import { type FreshNamespace, freshNamespace } from '../support/namespaces.ts'
import { repoRoot } from '../support/repo.ts'
import { run } from '../support/run.ts'

interface Obj { apiVersion: string, kind: string, metadata: { name: string }, [k: string]: unknown }

const kc = loadKubeConfig()
const release = `kb-${randomBytes(3).toString('hex')}`
const made: FreshNamespace[] = []
const policies: string[] = []
let payments = ''
let billing = ''

const helm = (...args: string[]) => {
  const bin = process.env[HELM_ENV]
  assert.ok(bin !== undefined && bin !== '', `${HELM_ENV} is not set: run under --test-global-setup=test/e2e/global-setup.ts`)
  return run(bin, args, { cwd: repoRoot })
}

interface Container { name: string, image: string, volumeMounts?: { name: string, mountPath: string }[] }
/** A pod whose containers mount what they are given; volume "key" is bank-api's Secret unless `volumes` says otherwise. */
const pod = (name: string, spec: { containers: Container[], initContainers?: Container[], volumes?: unknown[] }): unknown => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { volumes: [{ name: 'key', secret: { secretName: 'bank-api-mtls' } }], ...spec },
})
const mountsKey = (name: string): Container => ({ name, image: 'x:1', volumeMounts: [{ name: 'key', mountPath: '/key' }] })
const plain = (name: string): Container => ({ name, image: 'x:1' })
const create = (ns: string, body: unknown, dryRun = true) =>
  kubeRequest(kc, { method: 'POST', path: `/api/v1/namespaces/${ns}/pods${dryRun ? '?dryRun=All' : ''}`, body })

before(async () => {
  for (const prefix of ['kb-payments', 'kb-billing']) made.push(await freshNamespace(kc, prefix))
  ;[payments, billing] = made.map((n) => n.name) as [string, string]
  const work = await mkdtemp(join(tmpdir(), 'egress-mtls-key-boundary-'))
  const values = join(work, 'values.yaml')
  await writeFile(values, stringify({
    keyBoundary: { enabled: true },
    config: { targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: [payments] }, { name: 'wide', host: 'wide.example.com', secretName: 'wide-client', namespaces: ['*'] }] },
  }))
  const r = await helm('template', release, join(repoRoot, 'charts', 'egress-mtls'), '--namespace', payments, '-f', values, '--show-only', 'templates/key-boundary-policy.yaml')
  assert.equal(r.code, 0, r.stderr)
  const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null)
  assert.deepEqual(objs.map((o) => o.kind), ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'])
  for (const o of objs) {
    const plural = o.kind === 'ValidatingAdmissionPolicy' ? 'validatingadmissionpolicies' : 'validatingadmissionpolicybindings'
    await kubeJson(kc, { method: 'PATCH', path: `/apis/admissionregistration.k8s.io/v1/${plural}/${o.metadata.name}?fieldManager=egress-mtls-e2e&force=true`, body: o, contentType: 'application/apply-patch+yaml' })
    policies.push(`/apis/admissionregistration.k8s.io/v1/${plural}/${o.metadata.name}`)
  }
  // The API server loads a policy asynchronously: wait until it refuses.
  const deadline = Date.now() + 30_000
  for (;;) {
    const probe = await create(payments, pod('probe', { containers: [mountsKey('app')] }))
    if (probe.status === 403) break
    assert.ok(Date.now() < deadline, `the key boundary policy is not in force after 30 s: HTTP ${probe.status} ${probe.body}`)
    await sleep(250)
  }
})

after(async () => {
  for (const p of policies.reverse()) await kubeRequest(kc, { method: 'DELETE', path: p })
  for (const n of made) await n.cleanup()
})

test('keyBoundary is off by default: the chart renders no such policy', async () => {
  const r = await helm('template', release, join(repoRoot, 'charts', 'egress-mtls'), '--namespace', payments)
  assert.equal(r.code, 0, r.stderr)
  assert.ok(!r.stdout.includes('key-boundary'), 'no key boundary policy without keyBoundary.enabled')
})

test('a container other than istio-proxy mounting a target Secret\'s volume is refused; istio-proxy and other Secrets are not', async () => {
  const refused = async (what: string, ns: string, body: unknown, by: string): Promise<void> => {
    const r = await create(ns, body)
    assert.equal(r.status, 403, `${what}: HTTP ${r.status} ${r.body}`)
    assert.match(r.body, new RegExp(`egress-mtls key boundary: only istio-proxy may mount a volume of a target Secret \\(key\\); mounted by ${by}`), what)
  }
  await refused('the application container', payments, pod('app', { containers: [plain('istio-proxy'), mountsKey('app')] }), 'app')
  await refused('an init container', payments, pod('init', { containers: [plain('app')], initContainers: [mountsKey('setup')] }), 'setup')
  await refused('through a projected volume', payments, pod('projected', { containers: [mountsKey('app')], volumes: [{ name: 'key', projected: { sources: [{ secret: { name: 'bank-api-mtls' } }] } }] }), 'app')
  await refused('a mesh-wide target\'s Secret, in any namespace', billing, pod('wide', { containers: [mountsKey('app')], volumes: [{ name: 'key', secret: { secretName: 'wide-client' } }] }), 'app')

  const accepted = async (what: string, ns: string, body: unknown): Promise<void> => {
    const r = await create(ns, body)
    assert.equal(r.status, 201, `${what}: HTTP ${r.status} ${r.body}`)
  }
  // What Istio's injector makes of egress-mtls's annotations: the volume, mounted by istio-proxy only (classic and native sidecar).
  await accepted('istio-proxy mounts it', payments, pod('sidecar', { containers: [plain('app'), mountsKey('istio-proxy')] }))
  await accepted('istio-proxy as a native sidecar mounts it', payments, pod('native', { containers: [plain('app')], initContainers: [{ ...mountsKey('istio-proxy'), restartPolicy: 'Always' } as Container] }))
  await accepted('the volume declared, mounted by nobody', payments, pod('unmounted', { containers: [plain('app')] }))
  await accepted('another Secret', payments, pod('other', { containers: [mountsKey('app')], volumes: [{ name: 'key', secret: { secretName: 'app-config' } }] }))
  await accepted('bank-api\'s Secret name in a namespace bank-api is not configured for', billing, pod('elsewhere', { containers: [mountsKey('app')] }))
})

test('an ephemeral container (kubectl debug) mounting the target Secret\'s volume is refused', async () => {
  const created = await create(payments, pod('debugged', { containers: [plain('app'), mountsKey('istio-proxy')] }), false)
  assert.equal(created.status, 201, created.body)
  const path = `/api/v1/namespaces/${payments}/pods/debugged/ephemeralcontainers`
  const debug = (mounts: boolean) => kubeRequest(kc, {
    method: 'PATCH',
    path: `${path}?dryRun=All`,
    contentType: 'application/strategic-merge-patch+json',
    body: { spec: { ephemeralContainers: [{ name: 'debug', image: 'busybox:1', ...(mounts ? { volumeMounts: [{ name: 'key', mountPath: '/key' }] } : {}) }] } },
  })
  const refused = await debug(true)
  assert.equal(refused.status, 403, refused.body)
  assert.match(refused.body, /only istio-proxy may mount a volume of a target Secret \(key\); mounted by debug/)
  const fine = await debug(false)
  assert.equal(fine.status, 200, fine.body)
})
