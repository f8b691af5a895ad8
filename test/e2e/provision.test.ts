// `egress-mtls provision` against a real kube-apiserver with Istio's CRDs (their CEL rules
// run there): create, a second run that changes nothing, routing changes, pruning, the
// dry-run plan, --prune-all, drift repair, Secret warnings, API errors and retries.
//
// Pruning works on the whole cluster (everything of the instance, here the default one),
// so this file runs its own control plane: a prune here must not delete the objects another
// test file (doctor.test.ts) provisions with the default instance on the shared one.
// Instances, conflicts and --adopt: ownership.test.ts.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { createConnection, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'

import { ISTIO_GROUPS, ISTIO_KINDS, ISTIO_PLURALS, type IstioKind, istioPath, OWNED_SELECTOR, render } from '../../src/core/istio/render.ts'
import { apply, istioApi } from '../../src/kube/istio.ts'
import { ensureBinaries } from '../support/binaries.ts'
import { resolvedConfig } from '../support/config.ts'
import { type ControlPlane, startE2E } from '../support/control-plane.ts'
import { kubeJson, kubeRequest, loadKubeConfig } from '../support/kube.ts'
import { freshNamespace } from '../support/namespaces.ts'
import { freePort } from '../support/ports.ts'
import { type CliResult, runCli } from '../support/run-cli.ts'

let cp: ControlPlane
let kc: KubeConfig
let dir: string

before(async () => {
  cp = await startE2E({ binaries: await ensureBinaries({ helm: false }) })
  kc = loadKubeConfig(cp.kubeconfigPath)
  dir = await mkdtemp(join(tmpdir(), 'egress-mtls-provision-'))
})
after(async () => { await cp.stop() })

interface Live {
  kind: IstioKind
  metadata: {
    name: string,
    namespace: string,
    labels?: Record<string, string>,
    resourceVersion: string,
    managedFields?: { manager: string, operation: string }[],
  }
  spec: Record<string, unknown>
}

let configs = 0

async function configFile (raw: Record<string, unknown>): Promise<string> {
  resolvedConfig(raw) // a test's own mistake shows here, not as a CLI exit 2
  const file = join(dir, `config-${++configs}.json`)
  await writeFile(file, JSON.stringify(raw))
  return file
}

const provision = (config: string | undefined, ...flags: string[]): Promise<CliResult> =>
  runCli(['provision', ...(config === undefined ? [] : ['--config', config]), '--kubeconfig', cp.kubeconfigPath, '--timeout', '30', ...flags])

/** Our objects in these namespaces, keyed `Kind ns/name`. */
async function owned (namespaces: readonly string[]): Promise<Map<string, Live>> {
  const out = new Map<string, Live>()
  for (const kind of ISTIO_KINDS) {
    const list = await kubeJson(kc, { path: `/apis/${ISTIO_GROUPS[kind]}/v1/${ISTIO_PLURALS[kind]}?labelSelector=${encodeURIComponent(OWNED_SELECTOR)}` }) as { items: Live[] }
    for (const o of list.items) if (namespaces.includes(o.metadata.namespace)) out.set(`${kind} ${o.metadata.namespace}/${o.metadata.name}`, { ...o, kind })
  }
  return out
}

const versions = (m: Map<string, Live>): Record<string, string> =>
  Object.fromEntries([...m].map(([k, o]) => [k, o.metadata.resourceVersion]))

async function namespaces<P extends string[]> (t: TestContext, ...prefixes: P): Promise<{ [K in keyof P]: string }> {
  const made = await Promise.all(prefixes.map((p) => freshNamespace(kc, p)))
  t.after(async () => {
    // Leave the cluster as found: nothing of ours (every test here provisions cluster-wide).
    const r = await provision(undefined, '--prune-all')
    assert.equal(r.code, 0, r.stderr)
    await Promise.all(made.map((n) => n.cleanup()))
  })
  return made.map((n) => n.name) as { [K in keyof P]: string }
}

async function userObject (namespace: string, kind: IstioKind, name: string, labels: Record<string, string> = {}): Promise<void> {
  const spec = kind === 'ServiceEntry'
    ? { hosts: [`${name}.example.com`], location: 'MESH_EXTERNAL', resolution: 'DNS', ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }] }
    : { host: `${name}.example.com` }
  await kubeJson(kc, {
    method: 'POST',
    path: istioPath(kind, namespace),
    body: { apiVersion: 'networking.istio.io/v1', kind, metadata: { name, labels }, spec },
  })
}

const exists = async (namespace: string, kind: IstioKind, name: string): Promise<boolean> =>
  (await kubeRequest(kc, { path: istioPath(kind, namespace, name) })).status === 200

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '')
/** The plan's own lines, without the diffs under updates. */
const planLines = (s: string): string[] => lines(s).filter((l) => /^(create|update|unchanged|delete|conflict|adopt|plan:) /.test(l))

test('provision creates every object, the API server accepts them as rendered, and a second run changes nothing', async (t) => {
  const [a, b, root] = await namespaces(t, 'prov-a', 'prov-b', 'prov-root')
  const raw = {
    meshRootNamespace: root,
    targets: [
      { name: 'bank-api', host: 'api.bank.example.com', namespaces: [a, b], subjectAltNames: ['bank.example.com'], maxConnectionDuration: '1h' },
      { name: 'mesh', host: 'mesh.example.org', namespaces: ['*'] },
    ],
  }
  const first = await provision(await configFile(raw))
  assert.equal(first.code, 0, first.stderr)
  assert.deepEqual(lines(first.stdout), [
    `create ServiceEntry ${a}/egress-mtls-bank-api`,
    `create DestinationRule ${a}/egress-mtls-bank-api`,
    `create ServiceEntry ${b}/egress-mtls-bank-api`,
    `create DestinationRule ${b}/egress-mtls-bank-api`,
    `create ServiceEntry ${root}/egress-mtls-mesh`,
    `create DestinationRule ${root}/egress-mtls-mesh`,
    'provisioned: 6 created, 0 updated, 0 unchanged, 0 deleted',
  ])

  const live = await owned([a, b, root])
  const rendered = render(resolvedConfig(raw))
  assert.equal(live.size, rendered.length)
  for (const o of rendered) {
    const l = live.get(`${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)
    assert.ok(l, `${o.kind} ${o.metadata.namespace}/${o.metadata.name} missing`)
    assert.deepEqual(l.spec, o.spec)
    assert.deepEqual(l.metadata.labels, o.metadata.labels)
    assert.deepEqual(l.metadata.managedFields?.map((f) => [f.manager, f.operation]), [['egress-mtls', 'Apply']])
  }

  const second = await provision(await configFile(raw))
  assert.equal(second.code, 0, second.stderr)
  assert.deepEqual(lines(second.stdout).at(-1), 'provisioned: 0 created, 0 updated, 6 unchanged, 0 deleted')
  assert.ok(lines(second.stdout).slice(0, -1).every((l) => l.startsWith('unchanged ')))
  assert.deepEqual(versions(await owned([a, b, root])), versions(live))

  // provision skips unchanged objects; server-side apply of an unchanged object is a no-op too.
  const api = istioApi(kc)
  for (const o of rendered) assert.equal((await apply(api, o, Date.now() + 10_000)).metadata.resourceVersion, live.get(`${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)?.metadata.resourceVersion)
})

test('changing routing: the VirtualService comes and, back to targetPort, is pruned', async (t) => {
  const [a] = await namespaces(t, 'routing')
  const target = { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: [a], port: 8443, plainPort: 8080 }
  const vs = await provision(await configFile({ routing: 'virtualService', targets: [target] }))
  assert.equal(vs.code, 0, vs.stderr)
  assert.equal(lines(vs.stdout).at(-1), 'provisioned: 3 created, 0 updated, 0 unchanged, 0 deleted')
  const route = (await owned([a])).get(`VirtualService ${a}/egress-mtls-tax-gw`)
  assert.deepEqual(route?.spec['http'], [{ match: [{ port: 8080 }], route: [{ destination: { host: 'gw.tax.example.org', port: { number: 8443 } } }] }])

  const back = await configFile({ routing: 'targetPort', targets: [target] })
  const plan = await provision(back, '--dry-run')
  assert.equal(plan.code, 0, plan.stderr)
  assert.deepEqual(planLines(plan.stdout), [
    `update ServiceEntry ${a}/egress-mtls-tax-gw`,
    `update DestinationRule ${a}/egress-mtls-tax-gw`,
    `delete VirtualService ${a}/egress-mtls-tax-gw (the configuration no longer renders a VirtualService for target tax-gw)`,
    'plan: 0 to create, 2 to update, 0 unchanged, 1 to delete (dry run: nothing changed)',
  ])
  assert.ok(await exists(a, 'VirtualService', 'egress-mtls-tax-gw'), 'the dry run deleted nothing')
  const done = await provision(back)
  assert.equal(done.code, 0, done.stderr)
  assert.equal(lines(done.stdout).at(-1), 'provisioned: 0 created, 2 updated, 0 unchanged, 1 deleted')
  const live = await owned([a])
  assert.deepEqual([...live.keys()].sort(), [`DestinationRule ${a}/egress-mtls-tax-gw`, `ServiceEntry ${a}/egress-mtls-tax-gw`])
  assert.deepEqual((live.get(`ServiceEntry ${a}/egress-mtls-tax-gw`)?.spec['ports'] as unknown[])[0], { number: 8080, name: 'http', protocol: 'HTTP', targetPort: 8443 })
})

test('targets sharing a host: one ServiceEntry and VirtualService for the host, a DestinationRule each; removing one keeps what the others need', async (t) => {
  const [a, b] = await namespaces(t, 'share-a', 'share-b')
  const merchant = (name: string, ns: string[] = [a]): Record<string, unknown> => ({ name, host: 'api.bank.example.com', namespaces: ns, secretName: `${name}-client` })
  const configOf = async (...targets: Record<string, unknown>[]): Promise<string> => await configFile({ routing: 'virtualService', targets })
  const shared = 'egress-mtls.api.bank.example.com'
  const first = await provision(await configOf(merchant('m-a'), merchant('m-b', [a, b]), merchant('m-c')))
  assert.equal(first.code, 0, first.stderr)
  assert.deepEqual(lines(first.stdout), [
    `create DestinationRule ${a}/egress-mtls-m-a`,
    `create DestinationRule ${a}/egress-mtls-m-b`,
    `create DestinationRule ${a}/egress-mtls-m-c`,
    `create ServiceEntry ${a}/${shared}`,
    `create VirtualService ${a}/${shared}`,
    // In b, m-b is alone on its host: its own set.
    `create ServiceEntry ${b}/egress-mtls-m-b`,
    `create DestinationRule ${b}/egress-mtls-m-b`,
    `create VirtualService ${b}/egress-mtls-m-b`,
    'provisioned: 8 created, 0 updated, 0 unchanged, 0 deleted',
  ])
  const live = await owned([a, b])
  for (const o of render(resolvedConfig({ routing: 'virtualService', targets: [merchant('m-a'), merchant('m-b', [a, b]), merchant('m-c')] }))) {
    const l = live.get(`${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)
    assert.ok(l, `${o.kind} ${o.metadata.namespace}/${o.metadata.name} missing`)
    assert.deepEqual([l.spec, l.metadata.labels], [o.spec, o.metadata.labels])
  }
  assert.deepEqual(live.get(`ServiceEntry ${a}/${shared}`)?.metadata.labels, { 'app.kubernetes.io/managed-by': 'egress-mtls', 'egress-mtls.io/instance': 'egress-mtls' })

  // doctor checks the shared objects once, with the first target they serve.
  const doctor = await runCli(['doctor', '-n', a, '--config', await configOf(merchant('m-a'), merchant('m-b', [a, b]), merchant('m-c')), '--kubeconfig', cp.kubeconfigPath])
  assert.deepEqual(lines(doctor.stdout).filter((l) => / (ServiceEntry|DestinationRule|VirtualService) /.test(l)), [
    `ok ServiceEntry ${a}/${shared}: as rendered`,
    `ok DestinationRule ${a}/egress-mtls-m-a: as rendered`,
    `ok VirtualService ${a}/${shared}: as rendered`,
    `ok DestinationRule ${a}/egress-mtls-m-b: as rendered`,
    `ok DestinationRule ${a}/egress-mtls-m-c: as rendered`,
  ])

  // m-c goes: its DestinationRule only; the others, shared ones included, are untouched.
  const withoutC = await provision(await configOf(merchant('m-a'), merchant('m-b', [a, b])))
  assert.equal(withoutC.code, 0, withoutC.stderr)
  assert.deepEqual(lines(withoutC.stdout).filter((l) => !l.startsWith('unchanged ')), [
    `delete DestinationRule ${a}/egress-mtls-m-c (target m-c is no longer in the configuration)`,
    'provisioned: 0 created, 0 updated, 7 unchanged, 1 deleted',
  ])
  const gone = `DestinationRule ${a}/egress-mtls-m-c`
  assert.deepEqual(versions(await owned([a, b])), Object.fromEntries(Object.entries(versions(live)).filter(([k]) => k !== gone)))

  // m-b goes: m-a is alone on the host; it gets a ServiceEntry and VirtualService of its own,
  // created before the shared ones are deleted; its DestinationRule is untouched.
  const onlyA = await provision(await configOf(merchant('m-a')))
  assert.equal(onlyA.code, 0, onlyA.stderr)
  assert.deepEqual(lines(onlyA.stdout), [
    `create ServiceEntry ${a}/egress-mtls-m-a`,
    `unchanged DestinationRule ${a}/egress-mtls-m-a`,
    `create VirtualService ${a}/egress-mtls-m-a`,
    `delete DestinationRule ${a}/egress-mtls-m-b (target m-b is no longer in the configuration)`,
    `delete ServiceEntry ${a}/${shared} (host api.bank.example.com is no longer shared by targets in namespace ${a}: its ServiceEntry is now egress-mtls-m-a)`,
    `delete VirtualService ${a}/${shared} (host api.bank.example.com is no longer shared by targets in namespace ${a}: its VirtualService is now egress-mtls-m-a)`,
    `delete DestinationRule ${b}/egress-mtls-m-b (target m-b is no longer in the configuration)`,
    `delete ServiceEntry ${b}/egress-mtls-m-b (target m-b is no longer in the configuration)`,
    `delete VirtualService ${b}/egress-mtls-m-b (target m-b is no longer in the configuration)`,
    'provisioned: 2 created, 0 updated, 1 unchanged, 6 deleted',
  ])
  const end = await owned([a, b])
  assert.deepEqual([...end.keys()].sort(), [`DestinationRule ${a}/egress-mtls-m-a`, `ServiceEntry ${a}/egress-mtls-m-a`, `VirtualService ${a}/egress-mtls-m-a`])
  assert.equal(end.get(`DestinationRule ${a}/egress-mtls-m-a`)?.metadata.resourceVersion, live.get(`DestinationRule ${a}/egress-mtls-m-a`)?.metadata.resourceVersion)
})

test('pruning a removed target and a dropped namespace: the dry-run plan, --no-prune, and objects without our labels left alone', async (t) => {
  const [a, b] = await namespaces(t, 'prune-a', 'prune-b')
  const one = { name: 'one', host: 'one.example.com', namespaces: [a, b] }
  const two = { name: 'two', host: 'two.example.com', namespaces: [a] }
  const before = await provision(await configFile({ targets: [one, two] }))
  assert.equal(before.code, 0, before.stderr)
  await userObject(a, 'ServiceEntry', 'users-own')
  await userObject(a, 'DestinationRule', 'egress-mtls-lookalike', { 'app.kubernetes.io/managed-by': 'someone-else', 'egress-mtls.io/target': 'two' })
  const versionsBefore = versions(await owned([a, b]))

  const after = await configFile({ targets: [{ ...one, namespaces: [a] }] })
  const plan = await provision(after, '--dry-run')
  assert.equal(plan.code, 0, plan.stderr)
  assert.equal(plan.stdout, [
    `unchanged ServiceEntry ${a}/egress-mtls-one`,
    `unchanged DestinationRule ${a}/egress-mtls-one`,
    `delete DestinationRule ${a}/egress-mtls-two (target two is no longer in the configuration)`,
    `delete ServiceEntry ${a}/egress-mtls-two (target two is no longer in the configuration)`,
    `delete DestinationRule ${b}/egress-mtls-one (target one is no longer provisioned in namespace ${b})`,
    `delete ServiceEntry ${b}/egress-mtls-one (target one is no longer provisioned in namespace ${b})`,
    'plan: 0 to create, 0 to update, 2 unchanged, 4 to delete (dry run: nothing changed)',
    '',
  ].join('\n'))
  assert.deepEqual(versions(await owned([a, b])), versionsBefore, 'the dry run changed nothing')

  const kept = await provision(after, '--no-prune')
  assert.equal(kept.code, 0, kept.stderr)
  assert.equal(lines(kept.stdout).at(-1), 'provisioned: 0 created, 0 updated, 2 unchanged, 0 deleted')
  assert.deepEqual(versions(await owned([a, b])), versionsBefore, '--no-prune deleted nothing')

  const pruned = await provision(after)
  assert.equal(pruned.code, 0, pruned.stderr)
  assert.equal(lines(pruned.stdout).at(-1), 'provisioned: 0 created, 0 updated, 2 unchanged, 4 deleted')
  assert.deepEqual([...(await owned([a, b])).keys()].sort(), [`DestinationRule ${a}/egress-mtls-one`, `ServiceEntry ${a}/egress-mtls-one`])
  assert.ok(await exists(a, 'ServiceEntry', 'users-own'))
  assert.ok(await exists(a, 'DestinationRule', 'egress-mtls-lookalike'))
})

test('--prune-all deletes everything egress-mtls owns, in every namespace, without a configuration, and nothing else', async (t) => {
  const [a, root] = await namespaces(t, 'uninstall', 'uninstall-root')
  const made = await provision(await configFile({
    routing: 'virtualService',
    meshRootNamespace: root,
    targets: [{ name: 'one', host: 'one.example.com', namespaces: [a] }, { name: 'mesh', host: 'mesh.example.com', namespaces: ['*'] }],
  }))
  assert.equal(made.code, 0, made.stderr)
  await userObject(a, 'ServiceEntry', 'users-own')

  const contradiction = await provision(undefined, '--prune-all', '--no-prune')
  assert.equal(contradiction.code, 2)
  assert.match(contradiction.stderr, /--prune-all and --no-prune/)

  const plan = await provision(undefined, '--prune-all', '--dry-run')
  assert.equal(plan.code, 0, plan.stderr)
  assert.equal(lines(plan.stdout).at(-1), 'plan: 0 to create, 0 to update, 0 unchanged, 6 to delete (dry run: nothing changed)')
  assert.equal((await owned([a, root])).size, 6)

  const gone = await provision(undefined, '--prune-all')
  assert.equal(gone.code, 0, gone.stderr)
  assert.equal(gone.stderr, '')
  assert.equal(lines(gone.stdout).at(-1), 'provisioned: 0 created, 0 updated, 0 unchanged, 6 deleted')
  assert.ok(lines(gone.stdout).slice(0, -1).every((l) => l.startsWith('delete ')))
  assert.equal((await owned([a, root])).size, 0)
  assert.ok(await exists(a, 'ServiceEntry', 'users-own'))
})

test('drift: fields another manager changed or added are put back as rendered', async (t) => {
  const [a] = await namespaces(t, 'drift')
  const config = await configFile({ targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: [a] }] })
  assert.equal((await provision(config)).code, 0)
  const path = `/apis/networking.istio.io/v1/namespaces/${a}/destinationrules/egress-mtls-bank-api?fieldManager=kubectl-edit`
  const edited = await kubeRequest(kc, {
    method: 'PATCH', path, contentType: 'application/merge-patch+json',
    body: { spec: { exportTo: ['*'], trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 } } } } },
  })
  assert.equal(edited.status, 200, edited.body)

  const plan = await provision(config, '--dry-run')
  assert.equal(plan.code, 0, plan.stderr)
  // Like kubectl diff: what the update changes, as a unified diff of the live object's
  // labels and spec (keys sorted) against what provision leaves.
  assert.equal(plan.stdout, [
    `unchanged ServiceEntry ${a}/egress-mtls-bank-api`,
    `update DestinationRule ${a}/egress-mtls-bank-api`,
    `--- live/DestinationRule/${a}/egress-mtls-bank-api`,
    `+++ egress-mtls/DestinationRule/${a}/egress-mtls-bank-api`,
    '@@ -5,12 +5,9 @@',
    '     egress-mtls.io/target: bank-api',
    ' spec:',
    '   exportTo:',
    '-    - "*"',
    '+    - .',
    '   host: api.bank.example.com',
    '   trafficPolicy:',
    '-    connectionPool:',
    '-      tcp:',
    '-        maxConnections: 1',
    '     portLevelSettings:',
    '       - connectionPool:',
    '           tcp:',
    'plan: 0 to create, 1 to update, 1 unchanged, 0 to delete (dry run: nothing changed)',
    '',
  ].join('\n'))
  const json = await provision(config, '--dry-run', '-o', 'json')
  assert.equal(json.code, 0, json.stderr)
  const doc = JSON.parse(json.stdout) as {
    kind: string,
    instance: string,
    items: { action: string, name: string, diff?: string, object?: unknown }[],
    summary: Record<string, number>,
  }
  assert.deepEqual([doc.kind, doc.instance, doc.items.map((i) => i.action)], ['ProvisionPlan', 'egress-mtls', ['unchanged', 'update']])
  assert.equal(doc.items[1]?.diff ?? '', plan.stdout.split('\n').slice(2, -2).join('\n') + '\n')
  assert.deepEqual(doc.summary, { create: 0, update: 1, unchanged: 1, delete: 0, conflict: 0, adopt: 0 })
  assert.equal((await provision(config, '-o', 'json')).code, 2, '-o needs --dry-run')
  const fixed = await provision(config)
  assert.equal(fixed.code, 0, fixed.stderr)
  const dr = (await owned([a])).get(`DestinationRule ${a}/egress-mtls-bank-api`)
  const want = render(resolvedConfig({ targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: [a] }] })).find((o) => o.kind === 'DestinationRule')
  assert.deepEqual(dr?.spec, want?.spec)
  assert.equal(lines((await provision(config)).stdout).at(-1), 'provisioned: 0 created, 0 updated, 2 unchanged, 0 deleted')
})

test('a missing Secret is reported per namespace without failing; a mesh-wide target gets a note', async (t) => {
  const [a, b, root] = await namespaces(t, 'secret-a', 'secret-b', 'secret-root')
  await kubeJson(kc, { method: 'POST', path: `/api/v1/namespaces/${b}/secrets`, body: { metadata: { name: 'bank-api-mtls' }, stringData: { cert: 'x', key: 'y', cacert: 'z' } } })
  const r = await provision(await configFile({
    meshRootNamespace: root,
    targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: [a, b] }, { name: 'mesh', host: 'mesh.example.com', namespaces: ['*'] }],
  }))
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(lines(r.stderr), [
    `warning: Secret ${a}/bank-api-mtls of target bank-api is missing: workloads of ${a} cannot reach api.bank.example.com over mTLS until it exists`,
    'warning: target mesh is mesh-wide: Secret mesh-mtls must exist in the namespace of each workload that uses it',
  ])
})

test('an object the API refuses fails the run, naming the object and the reason; the rest is applied', async (t) => {
  const [a] = await namespaces(t, 'refused')
  const missing = `missing-${a}`.slice(0, 63)
  const r = await provision(await configFile({ targets: [{ name: 'one', host: 'one.example.com', namespaces: [missing, a] }] }), '--no-prune')
  assert.equal(r.code, 1)
  assert.ok(r.stderr.includes(`egress-mtls: ServiceEntry ${missing}/egress-mtls-one: create failed: NotFound (404): namespaces "${missing}" not found\n`), r.stderr)
  assert.ok(r.stderr.includes(`egress-mtls: DestinationRule ${missing}/egress-mtls-one: create failed: NotFound (404)`), r.stderr)
  assert.equal(lines(r.stdout).at(-1), 'provisioned: 2 created, 0 updated, 0 unchanged, 0 deleted, 2 failed')
  assert.equal((await owned([a])).size, 2)
})

/** A kubeconfig whose server is https://127.0.0.1:<port> (the API server's certificate covers 127.0.0.1). */
async function kubeconfigAt (port: number): Promise<string> {
  const text = await readFile(cp.kubeconfigPath, 'utf8')
  const file = join(dir, `kubeconfig-${port}`)
  await writeFile(file, text.replace(cp.server, `https://127.0.0.1:${port}`), { mode: 0o600 })
  return file
}

/** Forwards TCP from `port` to the API server, like a load balancer that comes up late. */
async function forward (port: number): Promise<Server> {
  const target = new URL(cp.server)
  const srv = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) })
    client.pipe(upstream).pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve))
  return srv
}

test('the API server not reachable at first: provision retries with backoff and succeeds once it is', async (t) => {
  const [a] = await namespaces(t, 'retry')
  const port = await freePort()
  const kubeconfig = await kubeconfigAt(port)
  const config = await configFile({ targets: [{ name: 'late', host: 'late.example.com', namespaces: [a] }] })
  const started = Date.now()
  const running = runCli(['provision', '--config', config, '--kubeconfig', kubeconfig, '--timeout', '30'])
  await sleep(1500)
  const proxy = await forward(port)
  t.after(() => { proxy.close() })
  const r = await running
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /^warning: list Istio objects: fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+; retry 1 in \d+ ms$/m)
  assert.ok(Date.now() - started >= 1500)
  assert.equal(lines(r.stdout).at(-1), 'provisioned: 2 created, 0 updated, 0 unchanged, 0 deleted')
  assert.equal((await owned([a])).size, 2)
})

test('the API server never reachable: provision gives up at --timeout, exit 1, saying why', async () => {
  const kubeconfig = await kubeconfigAt(await freePort())
  const config = await configFile({ targets: [] })
  const started = Date.now()
  const r = await runCli(['provision', '--config', config, '--kubeconfig', kubeconfig, '--timeout', '2'])
  const elapsed = Date.now() - started
  assert.equal(r.code, 1)
  assert.match(r.stderr, /egress-mtls: cannot list the Istio objects egress-mtls owns: fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+\n$/)
  assert.ok(elapsed >= 1900 && elapsed < 2500, `gave up after ${elapsed} ms`)
})

test('an API server that accepts connections and never answers: no request outlives --timeout', async (t) => {
  const silent = createServer(() => undefined)
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.after(() => { silent.close() })
  const kubeconfig = await kubeconfigAt((silent.address() as { port: number }).port)
  const started = Date.now()
  const r = await runCli(['provision', '--config', await configFile({ targets: [] }), '--kubeconfig', kubeconfig, '--timeout', '2'])
  const elapsed = Date.now() - started
  assert.equal(r.code, 1)
  assert.equal(r.stderr, 'egress-mtls: cannot list the Istio objects egress-mtls owns: no answer from the API server before the deadline\n')
  assert.ok(elapsed >= 1900 && elapsed < 3000, `gave up after ${elapsed} ms`)
})
