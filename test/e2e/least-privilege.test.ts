// The chart's least privilege, enforced by the real API server: its RBAC and its
// ValidatingAdmissionPolicies created for real, then requests made with the ServiceAccounts'
// own tokens. Forged requests (raw HTTP, our code bypassed) against objects that are not the
// release's are refused by the API server; the real commands still do their work, and the
// uninstall hooks' commands leave nothing of the release behind and nothing else touched.
//
// The RBAC and policy objects are applied, and the MutatingWebhookConfiguration made to
// select nothing (this file shares the run's control plane with tests that create labelled
// workloads): the certs token may set its caBundle and nothing else.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'
import { parseAllDocuments, stringify } from 'yaml'

import { objectPath, render } from '../../src/core/istio/render.ts'
import { HELM_ENV } from '../support/binaries.ts'
import { resolvedConfig } from '../support/config.ts'
import { ACCESS_PLURALS, kubeJson, kubeRequest, loadKubeConfig, restPath, serviceAccountKubeconfig } from '../support/kube.ts'
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

const PLURALS: Readonly<Record<string, string>> = { ...ACCESS_PLURALS, MutatingWebhookConfiguration: 'mutatingwebhookconfigurations' }
const pathOf = (o: Obj): string => restPath(o, PLURALS)
const sePath = (ns: string, name = ''): string => `/apis/networking.istio.io/v1/namespaces/${ns}/serviceentries${name === '' ? '' : `/${name}`}`

const kc = loadKubeConfig()
const release = `lp-${randomBytes(3).toString('hex')}`
const full = `${release}-egress-mtls`
const made: FreshNamespace[] = []
const created: Obj[] = []
let work = ''
let releaseNs = ''
let payments = ''
let meshRoot = ''
let config = ''
let provisioner: KubeConfig
let provisionerKubeconfig = ''
let certsKubeconfig = ''
const raw = {
  meshRootNamespace: '',
  // A VirtualService per target too: the policy's every kind is exercised.
  routing: 'virtualService',
  targets: [
    { name: 'bank-api', host: 'api.bank.example.com', namespaces: [] as string[] },
    { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: [] as string[] },
    // Mesh-wide: the provisioner may create in the mesh root namespace, whose objects reach every namespace.
    { name: 'mesh-gw', host: 'gw.mesh.example.net', namespaces: ['*'] },
  ],
}
const mwcPath = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${full}`

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
/** The object `provision` makes of a target's kind in a namespace. */
const rendered = (kind: string, ns: string, target: string): Obj => {
  const o = render(resolvedConfig(raw), release).find((x) => x.kind === kind && x.metadata.namespace === ns && x.metadata.name === `egress-mtls-${target}`)
  assert.ok(o !== undefined, `${kind} ${ns}/egress-mtls-${target} is rendered`)
  return structuredClone(o) as unknown as Obj
}
const ours = (target: string): Record<string, string> => ({ 'app.kubernetes.io/managed-by': 'egress-mtls', 'egress-mtls.io/instance': release, 'egress-mtls.io/target': target })

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'egress-mtls-least-privilege-'))
  for (const prefix of ['lp-release', 'lp-payments', 'lp-mesh-root']) made.push(await freshNamespace(kc, prefix))
  ;[releaseNs, payments, meshRoot] = made.map((n) => n.name) as [string, string, string]
  raw.meshRootNamespace = meshRoot
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
  const never = { matchLabels: { 'egress-mtls.io/e2e-never': 'true' } }
  for (const o of objs) {
    if (o.kind === 'MutatingWebhookConfiguration') o['webhooks'] = (o['webhooks'] as object[]).map((w) => ({ ...w, namespaceSelector: never, objectSelector: never }))
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
    const r = await kubeRequest(provisioner, {
      method, path, ...(body === undefined ? {} : { body }), ...(contentType === undefined ? {} : { contentType }),
    })
    assert.equal(r.status, 403, `${what}: HTTP ${r.status} ${r.body}`)
    const message = (JSON.parse(r.body) as { message: string }).message
    assert.match(message, /ValidatingAdmissionPolicy .*egress-mtls provisioner: may not/, what)
    return message
  }
  const want = rendered('ServiceEntry', payments, 'bank-api')
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
  const mine = await kubeRequest(provisioner, { method: 'POST', path: sePath(payments), body: rendered('ServiceEntry', payments, 'tax-gw') })
  assert.equal(mine.status, 201, mine.body)
  const minePath = sePath(payments, 'egress-mtls-tax-gw')
  const drop = await refused('an update that removes the instance label', 'PATCH', minePath, { metadata: { labels: { 'egress-mtls.io/instance': null } } }, 'application/merge-patch+json')
  assert.match(drop, /the new object does not carry/)
  const update = await kubeRequest(provisioner, { method: 'PATCH', path: minePath, body: { spec: { ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }] } }, contentType: 'application/merge-patch+json' })
  assert.equal(update.status, 200, update.body)
  assert.equal((await kubeRequest(provisioner, { method: 'DELETE', path: minePath })).status, 200)
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
  assert.equal(pruned.stdout.split('\n').at(-2), 'provisioned: 0 created, 0 updated, 0 unchanged, 8 deleted')
  await kubeJson(kc, { method: 'DELETE', path: sePath(payments, other.metadata.name) })
  await kubeJson(kc, { method: 'DELETE', path: sePath(payments, theirs.metadata.name) })
})

test('the provisioner\'s token may write only what the configuration produces: its names, target label, hosts and exportTo', async () => {
  const drPath = (ns: string, name = ''): string => `/apis/networking.istio.io/v1/namespaces/${ns}/destinationrules${name === '' ? '' : `/${name}`}`
  const vsPath = (ns: string): string => `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices`
  const send = (method: string, path: string, body: unknown) => kubeRequest(provisioner, { method, path: `${path}?dryRun=All`, body })
  const refused = async (what: string, path: string, body: Obj, why: RegExp): Promise<void> => {
    const r = await send('POST', path, body)
    assert.equal(r.status, 403, `${what}: HTTP ${r.status} ${r.body}`)
    assert.match((JSON.parse(r.body) as { message: string }).message, why, what)
  }
  const redirect = (o: Obj, spec: Record<string, unknown>, labels?: Record<string, string>): Obj =>
    ({ ...o, metadata: { ...o.metadata, ...(labels === undefined ? {} : { labels }) }, spec: { ...(o['spec'] as object), ...spec } })
  const wideDr = rendered('DestinationRule', meshRoot, 'mesh-gw')
  const bankDr = rendered('DestinationRule', payments, 'bank-api')
  const bankSe = rendered('ServiceEntry', payments, 'bank-api')
  // The forgery of the issue: in the mesh root namespace (where the mesh-wide target lets it
  // create), for another team's host, exported to every namespace.
  const elsewhere = /the configuration produces no (VirtualService|DestinationRule) of that name in that namespace/
  await refused('a VirtualService of another name in the mesh root', vsPath(meshRoot), {
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'egress-mtls-payroll', labels: ours('payroll') },
    spec: { hosts: ['payroll.internal.example.com'], exportTo: ['*'], http: [{ route: [{ destination: { host: 'evil.example.net' } }] }] },
  }, elsewhere)
  const wideVs = rendered('VirtualService', meshRoot, 'mesh-gw')
  const routes = (wideVs['spec'] as { http: { match: unknown, route: { destination: { host: string } }[] }[] }).http
  await refused('the mesh-wide target\'s VirtualService for another host', vsPath(meshRoot), redirect(wideVs, { hosts: ['payroll.internal.example.com'] }), /the configuration makes it for target mesh-gw/)
  await refused('the mesh-wide target\'s VirtualService routing its host elsewhere', vsPath(meshRoot), redirect(wideVs, { http: [{ ...routes[0], route: [{ destination: { host: 'evil.example.net' } }] }] }), /the configuration makes it for target mesh-gw/)
  await refused('the mesh-wide target\'s VirtualService mirroring its traffic', vsPath(meshRoot), redirect(wideVs, { http: [{ ...routes[0], mirror: { host: 'evil.example.net' } }] }), /the configuration makes it for target mesh-gw/)
  await refused('a DestinationRule of another name in the mesh root', drPath(meshRoot), { ...redirect(wideDr, { host: 'payroll.internal.example.com' }, ours('payroll')), metadata: { name: 'egress-mtls-payroll', labels: ours('payroll') } }, elsewhere)
  const reach = new RegExp('the configuration makes it for target mesh-gw \\(label egress-mtls.io/target\\), host gw\\.mesh\\.example\\.net exported to \\* only')
  await refused('the mesh-wide target\'s DestinationRule for another host', drPath(meshRoot), redirect(wideDr, { host: 'payroll.internal.example.com' }), reach)
  await refused('the mesh-wide target\'s DestinationRule labelled for another target', drPath(meshRoot), redirect(wideDr, {}, ours('bank-api')), reach)
  await refused('a namespace\'s DestinationRule exported to every namespace', drPath(payments), redirect(bankDr, { exportTo: ['*'] }), /host api\.bank\.example\.com exported to \. only/)
  await refused('a ServiceEntry sending the host to an address of the forger', sePath(payments), redirect(bankSe, { resolution: 'STATIC', endpoints: [{ address: '203.0.113.7' }] }), /host api\.bank\.example\.com exported to \. only/)
  await refused('a ServiceEntry for two hosts', sePath(payments), redirect(bankSe, { hosts: ['api.bank.example.com', 'payroll.internal.example.com'] }), /host api\.bank\.example\.com exported to \. only/)
  await refused('a target\'s objects in a namespace it is not configured for', drPath(payments), { ...wideDr, metadata: { ...wideDr.metadata, namespace: payments } }, elsewhere)

  // What the configuration produces passes, every object (provision itself runs in the tests around).
  for (const o of render(resolvedConfig(raw), release)) {
    const r = await send('POST', objectPath(o, ''), o)
    assert.equal(r.status, 201, `${o.kind} ${o.metadata.namespace}/${o.metadata.name}: HTTP ${r.status} ${r.body}`)
  }
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

test('the certs token may change nothing of the MutatingWebhookConfiguration but the caBundle of its webhooks', async () => {
  const certs = loadKubeConfig(certsKubeconfig)
  // The real command (the post-install Job, the renewal CronJob): sets the caBundle.
  const set = await runCli(['certs', '--kubeconfig', certsKubeconfig, '--namespace', releaseNs, '--service', `${full}-webhook`, '--secret', `${full}-webhook-tls`, '--webhook', full])
  assert.equal(set.code, 0, set.stderr)
  assert.match(set.stdout, /caBundle set on /)
  const live = await kubeJson(kc, { path: mwcPath }) as Obj & { webhooks: { clientConfig: Record<string, unknown>, rules: unknown[] }[] }
  assert.ok(live.webhooks[0]?.clientConfig['caBundle'] !== undefined)

  const patch = (body: unknown) => kubeRequest(certs, { method: 'PATCH', path: `${mwcPath}?dryRun=All`, body, contentType: 'application/json-patch+json' })
  const forged: [string, unknown][] = [
    ['repoint clientConfig.service', [{ op: 'replace', path: '/webhooks/0/clientConfig/service/name', value: 'evil' }]],
    ['repoint to another namespace', [{ op: 'replace', path: '/webhooks/0/clientConfig/service/namespace', value: 'kube-system' }]],
    ['repoint to a URL', [{ op: 'remove', path: '/webhooks/0/clientConfig/service' }, { op: 'add', path: '/webhooks/0/clientConfig/url', value: 'https://evil.example.net/mutate' }]],
    ['widen the rules to every Secret and Pod', [{ op: 'replace', path: '/webhooks/0/rules', value: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['secrets', 'pods'] }] }]],
    ['select every namespace', [{ op: 'replace', path: '/webhooks/0/namespaceSelector', value: {} }]],
    ['fail open', [{ op: 'replace', path: '/webhooks/0/failurePolicy', value: 'Ignore' }]],
    ['add a webhook', [{ op: 'add', path: '/webhooks/-', value: { ...live.webhooks[0], name: 'second.egress-mtls.io' } }]],
    ['remove the webhook', [{ op: 'replace', path: '/webhooks', value: [] }]],
    ['an owner that is gone (garbage collection would delete it)', [{ op: 'add', path: '/metadata/ownerReferences', value: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'gone', uid: '00000000-0000-0000-0000-000000000000' }] }]],
    ['an annotation', [{ op: 'add', path: '/metadata/annotations', value: { 'cert-manager.io/inject-ca-from': 'x/y' } }]],
  ]
  for (const [what, body] of forged) {
    const r = await patch(body)
    assert.equal(r.status, 403, `${what}: HTTP ${r.status} ${r.body}`)
    assert.match(r.body, /egress-mtls certs: may not change MutatingWebhookConfiguration .* but the caBundle of its webhooks/, what)
  }
  // A caBundle alone (what certs does) passes, with or without the resourceVersion precondition.
  const bundle = Buffer.from('-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n').toString('base64')
  const ok = await patch([{ op: 'replace', path: '/metadata/resourceVersion', value: live.metadata.resourceVersion }, { op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: bundle }])
  assert.equal(ok.status, 200, ok.body)
  const after = await kubeJson(kc, { path: mwcPath }) as Obj
  assert.equal(after.metadata.resourceVersion, live.metadata.resourceVersion, 'dry runs changed nothing')
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
