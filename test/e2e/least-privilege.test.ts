// The chart's least privilege, enforced by the real API server: its RBAC and its
// ValidatingAdmissionPolicies created for real, then requests made with the ServiceAccounts'
// own tokens. Forged requests (raw HTTP, our code bypassed) against objects that are not the
// release's are refused by the API server; the real commands still do their work, and the
// uninstall hooks' commands leave nothing of the release behind and nothing else touched.
//
// Only the RBAC and policy objects are applied (no MutatingWebhookConfiguration: this file
// shares the run's control plane with tests that create labelled workloads).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'
import { parseAllDocuments, stringify } from 'yaml'

import { render } from '../../src/core/istio/render.ts'
import { HELM_ENV } from '../support/binaries.ts'
import { resolvedConfig } from '../support/config.ts'
import { kubeJson, kubeRequest, loadKubeConfig, serviceAccountKubeconfig } from '../support/kube.ts'
import { type FreshNamespace, freshNamespace } from '../support/namespaces.ts'
import { repoRoot } from '../support/repo.ts'
import { run } from '../support/run.ts'
import { runCli } from '../support/run-cli.ts'

interface Obj {
  apiVersion: string,
  kind: string,
  metadata: { name: string, namespace?: string, uid?: string, resourceVersion?: string, labels?: Record<string, string> },
  [k: string]: unknown,
}

const PLURALS: Record<string, string> = {
  ServiceAccount: 'serviceaccounts',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  ValidatingAdmissionPolicy: 'validatingadmissionpolicies',
  ValidatingAdmissionPolicyBinding: 'validatingadmissionpolicybindings',
}
const pathOf = (o: Obj): string =>
  `${o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`}${o.metadata.namespace === undefined ? '' : `/namespaces/${o.metadata.namespace}`}/${PLURALS[o.kind] ?? '?'}/${o.metadata.name}`
const sePath = (ns: string, name = ''): string => `/apis/networking.istio.io/v1/namespaces/${ns}/serviceentries${name === '' ? '' : `/${name}`}`

const kc = loadKubeConfig()
const release = `lp-${randomBytes(3).toString('hex')}`
const full = `${release}-egress-mtls`
const made: FreshNamespace[] = []
const created: Obj[] = []
let work = ''
let releaseNs = ''
let payments = ''
let config = ''
let provisioner: KubeConfig
let provisionerKubeconfig = ''
let certsKubeconfig = ''
const raw = { targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: [] as string[] }, { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: [] as string[] }] }

const kubeconfigOf = (sa: string): Promise<string> => serviceAccountKubeconfig(kc, releaseNs, sa, work)

/** A ServiceEntry as someone else (the admin) makes it. */
async function foreignServiceEntry (ns: string, name: string, labels: Record<string, string> = {}): Promise<Obj> {
  return await kubeJson(kc, {
    method: 'POST',
    path: sePath(ns),
    body: { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name, labels }, spec: { hosts: ['theirs.example.com'], location: 'MESH_EXTERNAL', resolution: 'DNS', ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }] } },
  }) as Obj
}

const seBody = (name: string, labels: Record<string, string>): Obj =>
  ({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name, labels }, spec: { hosts: [`${name}.example.com`], location: 'MESH_EXTERNAL', resolution: 'DNS', ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }] } })
const ours = (target: string): Record<string, string> => ({ 'app.kubernetes.io/managed-by': 'egress-mtls', 'egress-mtls.io/instance': release, 'egress-mtls.io/target': target })

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'egress-mtls-least-privilege-'))
  for (const prefix of ['lp-release', 'lp-payments']) made.push(await freshNamespace(kc, prefix))
  ;[releaseNs, payments] = made.map((n) => n.name) as [string, string]
  raw.targets[0]!.namespaces = [payments]
  raw.targets[1]!.namespaces = [payments]
  resolvedConfig(raw)
  config = join(work, 'config.json')
  await writeFile(config, JSON.stringify(raw))
  const helm = process.env[HELM_ENV]
  assert.ok(helm !== undefined && helm !== '', `${HELM_ENV} is not set: run under --test-global-setup=test/e2e/global-setup.ts`)
  const values = join(work, 'values.yaml')
  await writeFile(values, stringify({ config: raw }))
  const r = await run(helm, ['template', release, join(repoRoot, 'charts', 'egress-mtls'), '--namespace', releaseNs, '-f', values], { cwd: repoRoot })
  assert.equal(r.code, 0, r.stderr)
  const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null && o.kind in PLURALS)
  // Policies first: no token exists before they are in force.
  objs.sort((a, b) => Number(b.kind.startsWith('Validating')) - Number(a.kind.startsWith('Validating')))
  for (const o of objs) {
    await kubeJson(kc, { method: 'PATCH', path: `${pathOf(o)}?fieldManager=egress-mtls-e2e&force=true`, body: o, contentType: 'application/apply-patch+yaml' })
    created.push(o)
  }
  assert.deepEqual(created.filter((o) => o.kind.startsWith('Validating')).map((o) => o.metadata.name).sort(), [`${full}-certs`, `${full}-certs`, `${full}-provision`, `${full}-provision`])
  provisionerKubeconfig = await kubeconfigOf(`${full}-provision`)
  certsKubeconfig = await kubeconfigOf(`${full}-certs`)
  provisioner = loadKubeConfig(provisionerKubeconfig)
  // The API server loads policies asynchronously, each on its own: wait until a (dry-run)
  // forged create is refused by each of them.
  const certs = loadKubeConfig(certsKubeconfig)
  const probes = [
    { what: 'provisioner', send: () => kubeRequest(provisioner, { method: 'POST', path: `${sePath(payments)}?dryRun=All`, body: seBody('probe', {}) }), refusal: 'egress-mtls provisioner' },
    {
      what: 'certs',
      send: () => kubeRequest(certs, { method: 'POST', path: `/api/v1/namespaces/${releaseNs}/secrets?dryRun=All`, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'probe' }, type: 'Opaque' } }),
      refusal: 'egress-mtls certs',
    },
  ]
  const deadline = Date.now() + 30_000
  for (const p of probes) {
    for (;;) {
      const probe = await p.send()
      if (probe.status === 403 && probe.body.includes(p.refusal)) break
      assert.ok(Date.now() < deadline, `the ${p.what} policy is not in force after 30 s: HTTP ${probe.status} ${probe.body}`)
      await sleep(250)
    }
  }
})

after(async () => {
  for (const o of created.filter((x) => x.metadata.namespace === undefined)) await kubeRequest(kc, { method: 'DELETE', path: pathOf(o) })
  for (const n of made) await n.cleanup()
})

test('forged writes by the provisioner\'s token to objects that are not the release\'s are refused by the API server', async () => {
  const theirs = await foreignServiceEntry(payments, 'egress-mtls-bank-api', { team: 'payments' })
  const other = await foreignServiceEntry(payments, 'other-instance', { 'app.kubernetes.io/managed-by': 'egress-mtls', 'egress-mtls.io/instance': 'someone-else', 'egress-mtls.io/target': 'x' })
  const refused = async (what: string, method: string, path: string, body?: unknown, contentType?: string): Promise<string> => {
    const r = await kubeRequest(provisioner, { method, path, ...(body === undefined ? {} : { body }), ...(contentType === undefined ? {} : { contentType }) })
    assert.equal(r.status, 403, `${what}: HTTP ${r.status} ${r.body}`)
    const message = (JSON.parse(r.body) as { message: string }).message
    assert.match(message, /ValidatingAdmissionPolicy .*egress-mtls provisioner: may not/, what)
    return message
  }
  const want = render(resolvedConfig(raw), release)[0]!
  // What provision would do without its conflict check: force-apply over the user's object.
  const apply = await refused('server-side apply over a foreign object', 'PATCH', `${sePath(payments, theirs.metadata.name)}?fieldManager=egress-mtls&force=true`, want, 'application/apply-patch+yaml')
  assert.match(apply, new RegExp(`may not UPDATE serviceentries ${payments}/egress-mtls-bank-api: the existing object does not carry app\\.kubernetes\\.io/managed-by=egress-mtls and egress-mtls\\.io/instance=${release}`))
  await refused('a merge patch that labels a foreign object ours', 'PATCH', sePath(payments, theirs.metadata.name), { metadata: { labels: ours('bank-api') } }, 'application/merge-patch+json')
  await refused('deleting a foreign object', 'DELETE', sePath(payments, theirs.metadata.name))
  await refused('deleting another instance\'s object', 'DELETE', sePath(payments, other.metadata.name))
  await refused('updating another instance\'s object', 'PATCH', sePath(payments, other.metadata.name), { spec: { hosts: ['x.example.com'] } }, 'application/merge-patch+json')
  const unlabelled = await refused('creating an object without our labels', 'POST', sePath(payments), seBody('forged', { team: 'x' }))
  assert.match(unlabelled, /may not CREATE serviceentries .*: the new object does not carry/)
  await refused('creating an object of another instance', 'POST', sePath(payments), seBody('forged', { 'app.kubernetes.io/managed-by': 'egress-mtls', 'egress-mtls.io/instance': 'someone-else' }))
  for (const o of [theirs, other]) {
    const now = await kubeJson(kc, { path: sePath(payments, o.metadata.name) }) as Obj
    assert.deepEqual([now.metadata.resourceVersion, now.metadata.labels, now['spec']], [o.metadata.resourceVersion, o.metadata.labels, o['spec']], `${o.metadata.name} untouched`)
  }

  // Its own objects: create, update, delete pass; an update that drops our labels does not.
  const mine = await kubeRequest(provisioner, { method: 'POST', path: sePath(payments), body: seBody('mine', ours('mine')) })
  assert.equal(mine.status, 201, mine.body)
  const drop = await refused('an update that removes the instance label', 'PATCH', sePath(payments, 'mine'), { metadata: { labels: { 'egress-mtls.io/instance': null } } }, 'application/merge-patch+json')
  assert.match(drop, /the new object does not carry/)
  const update = await kubeRequest(provisioner, { method: 'PATCH', path: sePath(payments, 'mine'), body: { spec: { hosts: ['mine2.example.com'] } }, contentType: 'application/merge-patch+json' })
  assert.equal(update.status, 200, update.body)
  assert.equal((await kubeRequest(provisioner, { method: 'DELETE', path: sePath(payments, 'mine') })).status, 200)
  // And nothing outside the configured namespaces: RBAC grants no create there.
  assert.equal((await kubeRequest(provisioner, { method: 'POST', path: `${sePath(releaseNs)}?dryRun=All`, body: seBody('elsewhere', ours('x')) })).status, 403)

  // The real command with --adopt: our code tries to take the foreign object over, the API server says no.
  const adopt = await runCli(['provision', '--config', config, '--kubeconfig', provisionerKubeconfig, '--instance', release, '--adopt', '--timeout', '10'])
  assert.equal(adopt.code, 1)
  assert.match(adopt.stderr, new RegExp(`ServiceEntry ${payments}/egress-mtls-bank-api: adopt failed: Forbidden \\(403\\): .*egress-mtls provisioner: may not UPDATE`))
  const after = await kubeJson(kc, { path: sePath(payments, theirs.metadata.name) }) as Obj
  assert.equal(after.metadata.resourceVersion, theirs.metadata.resourceVersion)
  // What it could apply (bank-api's DestinationRule, tax-gw) it did; its uninstall removes that, nothing else.
  const pruned = await runCli(['provision', '--prune-all', '--kubeconfig', provisionerKubeconfig, '--instance', release, '--timeout', '10'])
  assert.equal(pruned.code, 0, pruned.stderr)
  assert.equal(pruned.stdout.split('\n').at(-2), 'provisioned: 0 created, 0 updated, 0 unchanged, 3 deleted')
  await kubeJson(kc, { method: 'DELETE', path: sePath(payments, other.metadata.name) })
  await kubeJson(kc, { method: 'DELETE', path: sePath(payments, theirs.metadata.name) })
})

test('forged Secret writes: the certs token may write only the serving Secret, the provisioner\'s none', async () => {
  const certs = loadKubeConfig(certsKubeconfig)
  const secret = (name: string): unknown => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'Opaque', stringData: { x: 'y' } })
  const other = await kubeRequest(certs, { method: 'POST', path: `/api/v1/namespaces/${releaseNs}/secrets`, body: secret('not-the-serving-secret') })
  assert.equal(other.status, 403, other.body)
  assert.match(other.body, /egress-mtls certs: may not CREATE Secret .*not-the-serving-secret, only /)
  const own = await kubeRequest(certs, { method: 'POST', path: `/api/v1/namespaces/${releaseNs}/secrets?dryRun=All`, body: secret(`${full}-webhook-tls`) })
  assert.equal(own.status, 201, own.body)
  const byProvisioner = await kubeRequest(provisioner, { method: 'POST', path: `/api/v1/namespaces/${payments}/secrets?dryRun=All`, body: secret('bank-api-mtls') })
  assert.equal(byProvisioner.status, 403, byProvisioner.body)
})

test('the install and uninstall commands with the chart\'s tokens: a conflict stays untouched, and uninstall leaves nothing of the release', async () => {
  const theirs = await foreignServiceEntry(payments, 'egress-mtls-tax-gw')
  const provision = (...flags: string[]) => runCli(['provision', '--config', config, '--kubeconfig', provisionerKubeconfig, '--instance', release, '--timeout', '10', ...flags])
  const installed = await provision()
  assert.equal(installed.code, 1, 'the conflict is reported')
  assert.match(installed.stderr, new RegExp(`ServiceEntry ${payments}/egress-mtls-tax-gw: conflict: .*run provision --adopt`))
  assert.doesNotMatch(installed.stderr, /Forbidden/, 'the policy allows everything provision does to its own objects')
  assert.equal((await provision('--prune-all', '--dry-run')).code, 0)
  const certsArgs = ['certs', '--kubeconfig', certsKubeconfig, '--namespace', releaseNs, '--service', `${full}-webhook`, '--secret', `${full}-webhook-tls`, '--webhook', full]
  const certs = await runCli(certsArgs)
  assert.equal(certs.code, 0, certs.stderr)
  const secretPath = `/api/v1/namespaces/${releaseNs}/secrets/${full}-webhook-tls`
  assert.equal((await kubeRequest(kc, { path: secretPath })).status, 200)

  // helm uninstall's pre-delete hooks.
  const pruned = await runCli(['provision', '--prune-all', '--kubeconfig', provisionerKubeconfig, '--instance', release, '--timeout', '10'])
  assert.equal(pruned.code, 0, pruned.stderr)
  const removed = await runCli([...certsArgs, '--uninstall'])
  assert.equal(removed.code, 0, removed.stderr)
  assert.equal(removed.stdout, `certs: Secret ${releaseNs}/${full}-webhook-tls deleted\n`)
  assert.equal((await kubeRequest(kc, { path: secretPath })).status, 404)
  const left = await kubeJson(kc, { path: `/apis/networking.istio.io/v1/serviceentries?labelSelector=${encodeURIComponent(`egress-mtls.io/instance=${release}`)}` }) as { items: unknown[] }
  assert.deepEqual(left.items, [])
  const still = await kubeJson(kc, { path: sePath(payments, theirs.metadata.name) }) as Obj
  assert.equal(still.metadata.resourceVersion, theirs.metadata.resourceVersion, 'the conflicting object survives uninstall untouched')

  // A Secret at the serving Secret's name that certs did not make is not deleted.
  await kubeJson(kc, { method: 'POST', path: `/api/v1/namespaces/${releaseNs}/secrets`, body: { metadata: { name: `${full}-webhook-tls` }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': 'x', 'tls.key': 'y' } } })
  const kept = await runCli([...certsArgs, '--uninstall'])
  assert.equal(kept.code, 0, kept.stderr)
  assert.match(kept.stdout, /was not made by egress-mtls certs \(type kubernetes\.io\/tls, no ca\.key\): left alone/)
  assert.equal((await kubeRequest(kc, { path: secretPath })).status, 200)
})
