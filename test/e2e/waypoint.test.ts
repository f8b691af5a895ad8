// Origination at an ambient waypoint on the real API server (Istio's and the Gateway API's
// CRDs installed), with the chart's provisioner ServiceAccount and its own token (its RBAC and
// ValidatingAdmissionPolicy created for real): provision writes the waypoint's Secret reader,
// the waypoint and each target's objects in the waypoint's namespace, never reading the
// Secret; a second run changes nothing; the Role it makes lets the waypoint's ServiceAccount
// list Secrets (what istiod asks before it serves a credentialName) in the waypoint's
// namespace and nowhere else, and nothing but that; the policy refuses forged Roles,
// RoleBindings, Gateways and Istio objects; dropping the waypoint target prunes all of it.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'

import { type IstioObject, objectPath, render, resourcePath, RESOURCES } from '../../src/core/istio/render.ts'
import { HELM_ENV } from '../support/binaries.ts'
import { resolvedConfig } from '../support/config.ts'
import { ACCESS_PLURALS, KUBECONFIG_ENV, kubeJson, kubeRequest, loadKubeConfig, restPath, serviceAccountKubeconfig } from '../support/kube.ts'
import { type FreshNamespace, freshNamespace } from '../support/namespaces.ts'
import { repoRoot } from '../support/repo.ts'
import { run } from '../support/run.ts'
import { runCli } from '../support/run-cli.ts'

interface Obj {
  apiVersion: string,
  kind: string,
  metadata: { name: string, namespace?: string, resourceVersion?: string, labels?: Record<string, string> },
  [k: string]: unknown,
}

const pathOf = (o: Obj): string => restPath(o, ACCESS_PLURALS)
const kc = loadKubeConfig()
const release = `wp-${randomBytes(3).toString('hex')}`
const full = `${release}-egress-mtls`
const made: FreshNamespace[] = []
const cluster: Obj[] = []
let work = ''
let releaseNs = ''
let payments = ''
let billing = ''
let waypointNs = ''
let provisioner: KubeConfig
let provisionerKubeconfig = ''

/** bank-api at the waypoint (created by provision), tax in sidecar mode; without bank-api when `waypoint` is false. */
function rawConfig (waypoint = true): Record<string, unknown> {
  return {
    waypoint: { name: 'bank-egress', namespace: waypointNs, create: true },
    targets: [
      ...(waypoint ? [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: [payments, billing], origination: 'waypoint', secretName: 'bank-client' }] : []),
      { name: 'tax', host: 'tax.example.org', namespaces: [payments] },
    ],
  }
}

async function configFile (waypoint = true): Promise<string> {
  const file = join(work, `config-${String(waypoint)}.json`)
  await writeFile(file, JSON.stringify(rawConfig(waypoint)))
  return file
}

const provision = async (file: string, ...flags: string[]): Promise<{ code: number, stdout: string, stderr: string }> =>
  await runCli(['provision', ...(flags.includes('--prune-all') ? [] : ['--config', file]), '--kubeconfig', provisionerKubeconfig, '--instance', release, '--timeout', '20', ...flags])

const id = (o: { kind: string, metadata: { name: string, namespace?: string } }): string => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`

/** Every object of the release in the case's namespaces, "Kind namespace/name". */
async function live (): Promise<string[]> {
  const out: string[] = []
  for (const ns of [waypointNs, payments, billing]) {
    for (const r of RESOURCES) {
      const list = await kubeJson(kc, { path: resourcePath(r, ns) }) as { items: Obj[] }
      for (const o of list.items) if (o.metadata.labels?.['egress-mtls.io/instance'] === release) out.push(`${r.kind} ${ns}/${o.metadata.name}`)
    }
  }
  return out.sort()
}

/** Whether `user` may `verb` `resource` in `namespace` (a SubjectAccessReview, as istiod asks before serving a credentialName). */
async function may (user: string, verb: string, resource: string, namespace: string, group = ''): Promise<boolean> {
  const r = await kubeJson(kc, {
    method: 'POST',
    path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user, resourceAttributes: { namespace, verb, resource, group } } },
  }) as { status: { allowed: boolean } }
  return r.status.allowed
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'egress-mtls-waypoint-'))
  for (const prefix of ['wp-release', 'wp-payments', 'wp-billing', 'wp-waypoint']) made.push(await freshNamespace(kc, prefix))
  ;[releaseNs, payments, billing, waypointNs] = made.map((n) => n.name) as [string, string, string, string]
  await kubeJson(kc, { method: 'POST', path: `/api/v1/namespaces/${waypointNs}/secrets`, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bank-client' }, stringData: { cert: 'x', key: 'y', cacert: 'z' } } })
  const helm = process.env[HELM_ENV]
  assert.ok(helm !== undefined && helm !== '', `${HELM_ENV} is not set: run under --test-global-setup=test/e2e/global-setup.ts`)
  const values = join(work, 'values.json')
  await writeFile(values, JSON.stringify({ config: rawConfig() }))
  const r = await run(helm, ['template', release, join(repoRoot, 'charts', 'egress-mtls'), '--namespace', releaseNs, '-f', values], { cwd: repoRoot })
  assert.equal(r.code, 0, r.stderr)
  const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null && o.kind in ACCESS_PLURALS && o.metadata.name === `${full}-provision`)
  objs.sort((a, b) => Number(b.kind.startsWith('Validating')) - Number(a.kind.startsWith('Validating')))
  for (const o of objs) {
    await kubeJson(kc, { method: 'PATCH', path: `${pathOf(o)}?fieldManager=egress-mtls-e2e&force=true`, body: o, contentType: 'application/apply-patch+yaml' })
    if (o.metadata.namespace === undefined) cluster.push(o)
  }
  assert.deepEqual(objs.filter((o) => o.kind === 'Role').map((o) => o.metadata.namespace).sort(), [payments, waypointNs].sort(), 'a Role in the waypoint\'s namespace, none in the waypoint target\'s')
  provisionerKubeconfig = await serviceAccountKubeconfig(kc, releaseNs, `${full}-provision`, work)
  provisioner = loadKubeConfig(provisionerKubeconfig)
  // The API server loads a policy asynchronously: wait until a forged Role is refused.
  const deadline = Date.now() + 30_000
  for (;;) {
    const probe = await kubeRequest(provisioner, { method: 'POST', path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${waypointNs}/roles?dryRun=All`, body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'probe' }, rules: [] } })
    if (probe.status === 403 && probe.body.includes('egress-mtls provisioner')) break
    assert.ok(Date.now() < deadline, `the provisioner policy is not in force after 30 s: HTTP ${probe.status} ${probe.body}`)
    await sleep(250)
  }
})

after(async () => {
  for (const o of cluster) await kubeRequest(kc, { method: 'DELETE', path: pathOf(o) })
  for (const n of made) await n.cleanup()
})

test('waypoint mode with the provisioner\'s token: the Secret reader, the waypoint, the policy, DestinationRule and ServiceEntry, in order; the Secret never read; then nothing to do', async () => {
  const file = await configFile()
  const want = render(resolvedConfig(rawConfig()), release)
  const first = await provision(file)
  assert.equal(first.code, 0, first.stderr)
  assert.doesNotMatch(first.stderr, /bank-client|forbidden/i, 'the waypoint\'s Secret is neither read nor reported')
  assert.deepEqual(first.stdout.trim().split('\n').slice(0, -1), want.map((o) => `create ${id(o)}`))
  assert.deepEqual(want.slice(0, 6).map(id), [
    `Role ${waypointNs}/egress-mtls-bank-egress-secrets`,
    `RoleBinding ${waypointNs}/egress-mtls-bank-egress-secrets`,
    `Gateway ${waypointNs}/bank-egress`,
    `AuthorizationPolicy ${waypointNs}/egress-mtls-bank-api`,
    `DestinationRule ${waypointNs}/egress-mtls-bank-api`,
    `ServiceEntry ${waypointNs}/egress-mtls-bank-api`,
  ])
  assert.deepEqual(await live(), want.map(id).sort())
  const gateway = await kubeJson(kc, { path: objectPath(want[2]!) }) as Obj
  assert.equal(gateway.apiVersion, 'gateway.networking.k8s.io/v1')
  assert.deepEqual(gateway['spec'], want[2]?.spec, 'the Gateway is stored as rendered (the default allowedRoutes written)')
  const again = await provision(file)
  assert.equal(again.code, 0, again.stderr)
  assert.equal(again.stdout.split('\n').at(-2), `provisioned: 0 created, 0 updated, ${want.length} unchanged, 0 deleted`)
  const secret = await kubeRequest(provisioner, { path: `/api/v1/namespaces/${waypointNs}/secrets/bank-client` })
  assert.equal(secret.status, 403, secret.body)
})

test('the Role lets the waypoint\'s ServiceAccount read Secrets in the waypoint\'s namespace only, and nothing else; the provisioner itself reads none', async () => {
  const waypointSa = `system:serviceaccount:${waypointNs}:bank-egress`
  for (const verb of ['list', 'get', 'watch']) assert.equal(await may(waypointSa, verb, 'secrets', waypointNs), true, `${verb} secrets in the waypoint's namespace`)
  for (const ns of [payments, billing, releaseNs, 'kube-system']) {
    for (const verb of ['list', 'get']) assert.equal(await may(waypointSa, verb, 'secrets', ns), false, `${verb} secrets in ${ns}`)
  }
  for (const [verb, resource, group] of [['create', 'secrets', ''], ['delete', 'secrets', ''], ['get', 'configmaps', ''], ['list', 'pods', ''], ['create', 'roles', 'rbac.authorization.k8s.io']]) {
    assert.equal(await may(waypointSa, verb ?? '', resource ?? '', waypointNs, group), false, `${verb ?? ''} ${resource ?? ''}`)
  }
  assert.equal(await may(`system:serviceaccount:${waypointNs}:default`, 'list', 'secrets', waypointNs), false, 'another ServiceAccount of the namespace')
  const me = `system:serviceaccount:${releaseNs}:${full}-provision`
  for (const verb of ['list', 'get']) assert.equal(await may(me, verb, 'secrets', waypointNs), false, `the provisioner may not ${verb} the waypoint's Secrets`)
})

test('forged writes by the provisioner\'s token are refused: a wider Role, a binding to another subject or role, another waypoint, a wider policy, another Secret, a wider export', async () => {
  const want = render(resolvedConfig(rawConfig()), release)
  const find = (kind: string, name: string): Obj => {
    const o = want.find((x) => x.kind === kind && x.metadata.name === name)
    assert.ok(o, `${kind} ${name} rendered`)
    return structuredClone(o) as unknown as Obj
  }
  const send = (o: Obj) => kubeRequest(provisioner, {
    method: 'PATCH', path: `${objectPath(o as unknown as IstioObject)}?fieldManager=egress-mtls&force=true&dryRun=All`, body: o, contentType: 'application/apply-patch+yaml',
  })
  const refused = async (base: Obj, cases: [string, (o: Obj) => void, RegExp][]): Promise<void> => {
    const ok = await send(base)
    assert.ok(ok.status === 200 || ok.status === 201, `${id(base)} as rendered: HTTP ${ok.status} ${ok.body}`)
    for (const [what, change, why] of cases) {
      const o = structuredClone(base)
      change(o)
      const r = await send(o)
      assert.equal(r.status, 403, `${what}: HTTP ${r.status} ${r.body}`)
      // The admission policy refuses, or RBAC first: a Role other than the one the provisioner may escalate to, or where it may write none.
      assert.match(r.body, /egress-mtls provisioner: may not|attempting to grant RBAC permissions not currently held|cannot patch resource/, what)
      assert.match(r.body, why, what)
    }
  }
  const exact = /exactly as rendered/
  const noEntry = /the configuration produces no \w+ of that name in that namespace/
  const escalation = /attempting to grant RBAC permissions not currently held/
  await refused(find('Role', 'egress-mtls-bank-egress-secrets'), [
    ['a Role that may also create Secrets', (o) => { (o['rules'] as { verbs: string[] }[])[0]?.verbs.push('create') }, exact],
    ['a Role that may also read ConfigMaps', (o) => { (o['rules'] as unknown[]).push({ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }) }, exact],
    ['a Role that may read everything', (o) => { o['rules'] = [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] }, exact],
    ['the Role at another name', (o) => { o.metadata.name = 'egress-mtls-other-secrets' }, escalation],
    ['the Role in a target\'s namespace', (o) => { o.metadata.namespace = payments }, /cannot patch resource .*roles/],
    ['the Role labelled for a target', (o) => { o.metadata.labels!['egress-mtls.io/target'] = 'bank-api' }, /for no target/],
  ])
  await refused(find('RoleBinding', 'egress-mtls-bank-egress-secrets'), [
    ['bound to another ServiceAccount of the namespace', (o) => { o['subjects'] = [{ kind: 'ServiceAccount', name: 'default', namespace: waypointNs }] }, exact],
    ['bound to a ServiceAccount of another namespace', (o) => { o['subjects'] = [{ kind: 'ServiceAccount', name: 'bank-egress', namespace: payments }] }, exact],
    ['bound to every ServiceAccount', (o) => { o['subjects'] = [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:serviceaccounts' }] }, exact],
    ['a second subject', (o) => { (o['subjects'] as unknown[]).push({ kind: 'ServiceAccount', name: 'default', namespace: waypointNs }) }, exact],
  ])
  // roleRef cannot change on an existing binding; a new one at another name is no entry.
  await refused(find('RoleBinding', 'egress-mtls-bank-egress-secrets'), [
    ['a binding of cluster-admin', (o) => { o.metadata.name = 'egress-mtls-admin'; o['roleRef'] = { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' } }, /./],
  ])
  await refused(find('Gateway', 'bank-egress'), [
    ['a gateway of another class', (o) => { (o['spec'] as Record<string, unknown>)['gatewayClassName'] = 'istio' }, exact],
    ['a second listener', (o) => { ((o['spec'] as Record<string, unknown>)['listeners'] as unknown[]).push({ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } }) }, exact],
    ['another waypoint', (o) => { o.metadata.name = 'other-waypoint' }, noEntry],
    ['a waypoint for workloads', (o) => { o.metadata.labels!['istio.io/waypoint-for'] = 'workload' }, /labelled istio\.io\/waypoint-for=service/],
  ])
  await refused(find('AuthorizationPolicy', 'egress-mtls-bank-api'), [
    ['allowing another namespace', (o) => { ((o['spec'] as { rules: { from: { source: { namespaces: string[] } }[] }[] }).rules[0]?.from[0]?.source.namespaces ?? []).push(releaseNs) }, exact],
    ['allowing everyone', (o) => { (o['spec'] as Record<string, unknown>)['rules'] = [{}] }, exact],
    ['on the waypoint as a whole', (o) => { (o['spec'] as Record<string, unknown>)['targetRefs'] = [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'bank-egress' }] }, exact],
  ])
  await refused(find('DestinationRule', 'egress-mtls-bank-api'), [
    ['presenting another Secret of the waypoint\'s namespace', (o) => { ((o['spec'] as { trafficPolicy: { portLevelSettings: { tls: Record<string, unknown> }[] } }).trafficPolicy.portLevelSettings[0] ?? { tls: {} }).tls['credentialName'] = 'payroll-mtls' }, /exported to \. only/],
    ['exported everywhere', (o) => { (o['spec'] as Record<string, unknown>)['exportTo'] = ['*'] }, /exported to \. only/],
  ])
  await refused(find('ServiceEntry', 'egress-mtls-bank-api'), [
    ['exported everywhere', (o) => { (o['spec'] as Record<string, unknown>)['exportTo'] = ['*'] }, /exported to \., .* only/],
    ['bound to another waypoint', (o) => { o.metadata.labels!['istio.io/use-waypoint'] = 'other-waypoint' }, /labelled istio\.io\/use-waypoint=bank-egress/],
    ['bound to no waypoint (its host then left by ztunnel itself, without the certificate)', (o) => { delete o.metadata.labels!['istio.io/use-waypoint'] }, /labelled istio\.io\/use-waypoint=bank-egress/],
    ['for another host', (o) => { (o['spec'] as Record<string, unknown>)['hosts'] = ['payroll.internal.example.com'] }, /exported to/],
  ])
})

test('doctor checks what ambient needs, in one line each; probe reads the Secret in the waypoint\'s namespace', async () => {
  const file = await configFile()
  const admin = process.env[KUBECONFIG_ENV] ?? ''
  const doctor = async (): Promise<string[]> => {
    const r = await runCli(['doctor', '--config', file, '--kubeconfig', admin, '--namespace', payments, '--instance', release])
    assert.ok(r.code === 0 || r.code === 1, r.stderr)
    return r.stdout.split('\n')
  }
  const first = await doctor()
  const has = (lines: string[], line: string): void => { assert.ok(lines.includes(line), `${line}\nnot in:\n${lines.join('\n')}`) }
  has(first, `fail Namespace ${payments}: not enrolled in ambient (no label istio.io/dataplane-mode): nothing carries its calls to the waypoint, so waypoint targets get no client certificate; label it istio.io/dataplane-mode=ambient`)
  has(first, `ok waypoint ${waypointNs}/bank-egress: an istio-waypoint serving services (istio.io/waypoint-for=service)`)
  has(first, `fail Secret ${waypointNs}/bank-client (target bank-api): cert is not a PEM certificate`)
  for (const o of render(resolvedConfig(rawConfig()), release)) has(first, `ok ${id(o)}: as rendered`)
  assert.equal(first.some((l) => l.includes(`Secret ${payments}/bank-client`)), false, 'no Secret is looked for in the workload\'s namespace')
  await kubeJson(kc, { method: 'PATCH', path: `/api/v1/namespaces/${payments}`, body: { metadata: { labels: { 'istio.io/dataplane-mode': 'ambient' } } }, contentType: 'application/merge-patch+json' })
  has(await doctor(), `ok Namespace ${payments}: enrolled in ambient (istio.io/dataplane-mode=ambient): its calls reach the waypoint`)
  // Someone edits the Role: doctor says so.
  await kubeJson(kc, { method: 'PATCH', path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${waypointNs}/roles/egress-mtls-bank-egress-secrets`, body: { rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] }, contentType: 'application/merge-patch+json' })
  assert.ok((await doctor()).some((l) => l.startsWith(`fail Role ${waypointNs}/egress-mtls-bank-egress-secrets: differs from what render produces at Role.rules`)))
  assert.equal((await provision(file)).code, 0)

  const probe = await runCli(['probe', 'bank-api', '--config', file, '--kubeconfig', admin, '--connect-to', '127.0.0.1:1', '--timeout', '5'])
  assert.equal(probe.code, 1)
  assert.match(probe.stdout, new RegExp(`Secret ${waypointNs}/bank-client \\(target bank-api\\): cert is not a PEM certificate`))
  const wrong = await runCli(['probe', 'bank-api', '-n', payments, '--config', file, '--kubeconfig', admin, '--timeout', '5'])
  assert.equal(wrong.code, 2)
  assert.match(wrong.stderr, new RegExp(`target bank-api originates at the waypoint: its Secret is in namespace ${waypointNs} only \\(drop -n ${payments}\\)`))
})

test('dropping the waypoint target prunes the waypoint\'s objects (the sidecar target\'s stay); --prune-all leaves nothing', async () => {
  const dropped = await provision(await configFile(false))
  assert.equal(dropped.code, 0, dropped.stderr)
  assert.equal(dropped.stdout.split('\n').at(-2), 'provisioned: 0 created, 0 updated, 2 unchanged, 6 deleted')
  assert.match(dropped.stdout, new RegExp(`delete Role ${waypointNs}/egress-mtls-bank-egress-secrets`))
  assert.match(dropped.stdout, new RegExp(`delete Gateway ${waypointNs}/bank-egress`))
  assert.deepEqual(await live(), [`DestinationRule ${payments}/egress-mtls-tax`, `ServiceEntry ${payments}/egress-mtls-tax`])
  const pruned = await provision('', '--prune-all')
  assert.equal(pruned.code, 0, pruned.stderr)
  assert.deepEqual(await live(), [])
})
