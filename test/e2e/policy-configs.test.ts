// The provisioner's admission policy against what `render` produces, on the real API server,
// for each form of configuration: sidecar, virtualService routing, mesh-wide, egressGateway
// (namespaced, mesh-wide, a target in the gateway's own namespace, a custom gateway), targets
// sharing a host (both routings). For each, the chart is rendered by the real helm with that
// configuration, the provisioner's RBAC and policy created, and the real `provision` run with
// the ServiceAccount's own token: every object it renders is accepted (a second run: all
// unchanged; --prune-all: all deleted). Then forged objects, each one field away from a
// rendered one and sent the way provision sends (server-side apply, dry run), are refused
// while the rendered one itself, sent the same way, is accepted.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'
import fc from 'fast-check'
import { parseAllDocuments } from 'yaml'

import { type IstioKind, type IstioObject, istioPath, objectPath, render, resourcePath, RESOURCES } from '../../src/core/istio/render.ts'
import { HELM_ENV } from '../support/binaries.ts'
import { resolvedConfig } from '../support/config.ts'
import { configArbitrary, validConfig } from '../support/config-arbitrary.ts'
import { ACCESS_PLURALS, kubeJson, kubeRequest, loadKubeConfig, restPath, serviceAccountKubeconfig } from '../support/kube.ts'
import { type FreshNamespace, freshNamespace } from '../support/namespaces.ts'
import { pool } from '../support/pool.ts'
import { repoRoot } from '../support/repo.ts'
import { run } from '../support/run.ts'
import { runCli } from '../support/run-cli.ts'

interface Obj {
  apiVersion: string,
  kind: string,
  metadata: { name: string, namespace?: string, labels?: Record<string, string> },
  spec?: Record<string, unknown>,
  [k: string]: unknown,
}

const PLURALS = ACCESS_PLURALS
const pathOf = (o: Obj): string => restPath(o, PLURALS)

const kc = loadKubeConfig()
const made: FreshNamespace[] = []
const cluster: Obj[] = []
let work = ''

/** The namespaces of one case: p1, p2 (targets'), root (mesh root), gw (egress gateway's), release. */
interface Spaces { p1: string, p2: string, root: string, gw: string, release: string }

/** A case's provisioner, set up from the chart rendered with its configuration. */
interface Setup {
  release: string
  raw: Record<string, unknown>
  ns: Spaces
  file: string
  token: KubeConfig
  kubeconfig: string
  rendered: IstioObject[]
}

async function setUp (label: string, build: (ns: Spaces) => Record<string, unknown>): Promise<Setup> {
  const spaces: string[] = []
  for (const prefix of ['p1', 'p2', 'root', 'gw', 'release']) {
    const n = await freshNamespace(kc, `pc-${label}-${prefix}`)
    made.push(n)
    spaces.push(n.name)
  }
  const [p1, p2, root, gw, releaseNs] = spaces as [string, string, string, string, string]
  const ns: Spaces = { p1, p2, root, gw, release: releaseNs }
  const raw = build(ns)
  const installed = await install(raw, releaseNs, p1)
  const rendered = render(resolvedConfig(raw), installed.release)
  const file = join(work, `${installed.release}-config.json`)
  await writeFile(file, JSON.stringify(raw))
  return { ...installed, raw, ns, file, rendered }
}

/**
 * A new release of the chart with configuration `raw`, as helm installs it: the provisioner's
 * RBAC and policy rendered by the real helm and applied, then its token once the API server
 * enforces the policy (it loads policies asynchronously: a forged write in `probeNs` refused).
 */
async function install (
  raw: Record<string, unknown>, releaseNs: string, probeNs: string,
): Promise<{ release: string, token: KubeConfig, kubeconfig: string }> {
  const release = `pc-${randomBytes(3).toString('hex')}`
  const full = `${release}-egress-mtls`
  // JSON, not YAML: helm reads YAML 1.1, where a target named y or no would be a boolean.
  const values = join(work, `${release}.json`)
  await writeFile(values, JSON.stringify({ config: raw }))
  const helm = process.env[HELM_ENV]
  assert.ok(helm !== undefined && helm !== '', `${HELM_ENV} is not set: run under --test-global-setup=test/e2e/global-setup.ts`)
  const r = await run(helm, ['template', release, join(repoRoot, 'charts', 'egress-mtls'), '--namespace', releaseNs, '-f', values], { cwd: repoRoot })
  assert.equal(r.code, 0, r.stderr)
  const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null && o.kind in PLURALS && o.metadata.name === `${full}-provision`)
  // The policy first: no token exists before it is in force.
  objs.sort((a, b) => Number(b.kind.startsWith('Validating')) - Number(a.kind.startsWith('Validating')))
  const put = async (o: Obj): Promise<void> => {
    await kubeJson(kc, { method: 'PATCH', path: `${pathOf(o)}?fieldManager=egress-mtls-e2e&force=true`, body: o, contentType: 'application/apply-patch+yaml' })
    if (o.metadata.namespace === undefined) cluster.push(o)
  }
  for (const o of objs.filter((x) => x.metadata.namespace === undefined)) await put(o)
  // A Role and a RoleBinding in each target namespace: many at once at scale.
  await pool(objs.filter((x) => x.metadata.namespace !== undefined), 16, put)
  const kubeconfig = await serviceAccountKubeconfig(kc, releaseNs, `${full}-provision`, work)
  const token = loadKubeConfig(kubeconfig)
  const deadline = Date.now() + 30_000
  for (;;) {
    const probe = await kubeRequest(token, { method: 'POST', path: `${istioPath('ServiceEntry', probeNs)}?dryRun=All`, body: { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'probe' }, spec: { hosts: ['probe.example.com'], resolution: 'DNS', ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }] } } })
    if (probe.status === 403 && probe.body.includes('egress-mtls provisioner')) break
    assert.ok(Date.now() < deadline, `the provisioner policy is not in force after 30 s: HTTP ${probe.status} ${probe.body}`)
    await sleep(250)
  }
  return { release, token, kubeconfig }
}

const provision = async (s: Setup, ...flags: string[]): Promise<{ code: number, stdout: string, stderr: string }> =>
  await runCli(['provision', ...(flags.includes('--prune-all') ? [] : ['--config', s.file]), '--kubeconfig', s.kubeconfig, '--instance', s.release, '--timeout', '20', ...flags])

/** "Kind namespace/name" of every live object of the release, in the case's namespaces. */
async function live (s: Setup): Promise<string[]> {
  const out: string[] = []
  for (const ns of [s.ns.p1, s.ns.p2, s.ns.root, s.ns.gw]) {
    for (const r of RESOURCES) {
      const list = await kubeJson(kc, { path: resourcePath(r, ns) }) as { items: Obj[] }
      for (const o of list.items) if (o.metadata.labels?.['egress-mtls.io/instance'] === s.release) out.push(`${r.kind} ${ns}/${o.metadata.name}`)
    }
  }
  return out.sort()
}

const ids = (objects: readonly IstioObject[]): string[] => objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`).sort()

/**
 * Everything render produces is accepted from the real provision with the ServiceAccount's
 * token; a second run changes nothing; --prune-all deletes it all.
 */
async function provisionsAll (s: Setup): Promise<void> {
  const first = await provision(s)
  assert.equal(first.code, 0, first.stderr)
  assert.doesNotMatch(first.stderr, /Forbidden|forbidden|ValidatingAdmissionPolicy/)
  assert.equal(first.stdout.split('\n').at(-2), `provisioned: ${s.rendered.length} created, 0 updated, 0 unchanged, 0 deleted`)
  assert.deepEqual(await live(s), ids(s.rendered))
  const again = await provision(s)
  assert.equal(again.code, 0, again.stderr)
  assert.equal(again.stdout.split('\n').at(-2), `provisioned: 0 created, 0 updated, ${s.rendered.length} unchanged, 0 deleted`)
}

async function prunesAll (s: Setup): Promise<void> {
  const pruned = await provision(s, '--prune-all')
  assert.equal(pruned.code, 0, pruned.stderr)
  assert.equal(pruned.stdout.split('\n').at(-2), `provisioned: 0 created, 0 updated, 0 unchanged, ${s.rendered.length} deleted`)
  assert.deepEqual(await live(s), [])
}

/** The rendered object of kind at namespace/name, as a mutable copy. */
function find (s: Setup, kind: IstioKind | 'Role' | 'RoleBinding', namespace: string, name: string): Obj {
  const o = s.rendered.find((x) => x.kind === kind && x.metadata.namespace === namespace && x.metadata.name === name)
  assert.ok(o !== undefined, `${kind} ${namespace}/${name} is rendered (rendered: ${ids(s.rendered).join(', ')})`)
  return structuredClone(o) as unknown as Obj
}

/** Sent as provision sends (server-side apply, field manager egress-mtls), as a dry run. */
const apply = (s: { token: KubeConfig }, o: Obj) => kubeRequest(s.token, {
  method: 'PATCH',
  path: `${objectPath(o as unknown as IstioObject)}?fieldManager=egress-mtls&force=true&dryRun=All`,
  body: o,
  contentType: 'application/apply-patch+yaml',
})

/**
 * `base` (a rendered object) is accepted (an update, or a create where it is not yet); each forgery of it (a change of a copy) is refused
 * by the provisioner's policy with a message matching `why`.
 */
async function forgeriesRefused (s: Setup, base: Obj, forged: [string, (o: Obj) => Obj | undefined, RegExp][]): Promise<void> {
  const ok = await apply(s, base)
  assert.ok(ok.status === 200 || ok.status === 201, `${base.kind} ${base.metadata.namespace}/${base.metadata.name} as rendered: HTTP ${ok.status} ${ok.body}`)
  for (const [what, change, why] of forged) {
    const copy = structuredClone(base)
    const o = change(copy) ?? copy
    const r = await apply(s, o)
    assert.equal(r.status, 403, `${what}: HTTP ${r.status} ${r.body}`)
    const message = (JSON.parse(r.body) as { message: string }).message
    assert.match(message, /ValidatingAdmissionPolicy .*egress-mtls provisioner: may not/, what)
    assert.match(message, why, what)
  }
}

/** The map at `path` ("spec.servers.0") of an object, to change a field of it. */
function at (o: Obj, path: string): Record<string, unknown> {
  let v: unknown = o
  for (const k of path.split('.')) v = (v as Record<string, unknown>)[k]
  assert.ok(typeof v === 'object' && v !== null, `${path} is an object or array`)
  return v as Record<string, unknown>
}

const noEntry = /the configuration produces no \w+ of that name in that namespace/
const reach = /the configuration makes it for /

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'egress-mtls-policy-configs-'))
})

after(async () => {
  for (const o of cluster) await kubeRequest(kc, { method: 'DELETE', path: pathOf(o) })
  await pool(made, 16, (n) => n.cleanup())
})

describe('sidecar, routing targetPort: two targets, one in two namespaces', () => {
  let s: Setup
  before(async () => {
    s = await setUp('sidecar', (ns) => ({
      targets: [
        { name: 'bank-api', host: 'api.bank.example.com', namespaces: [ns.p1, ns.p2] },
        { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: [ns.p1], port: 8443, plainPort: 8080 },
      ],
    }))
  })
  test('provision with the provisioner\'s token: everything rendered accepted', async () => {
    assert.equal(s.rendered.length, 6)
    await provisionsAll(s)
  })
  test('forged: another target\'s label, workload selector, Secret, host, export', async () => {
    const dr = find(s, 'DestinationRule', s.ns.p1, 'egress-mtls-bank-api')
    await forgeriesRefused(s, dr, [
      ['the DestinationRule labelled for another target', (o) => { o.metadata.labels!['egress-mtls.io/target'] = 'tax-gw' }, /for target bank-api/],
      ['the DestinationRule without a target label', (o) => { delete o.metadata.labels!['egress-mtls.io/target'] }, /for target bank-api/],
      ['the DestinationRule selecting another target\'s pods', (o) => { at(o, 'spec')['workloadSelector'] = { matchLabels: { 'egress-mtls.io/tax-gw': 'true' } } }, reach],
      ['the DestinationRule selecting every pod of the namespace', (o) => { delete at(o, 'spec')['workloadSelector'] }, reach],
      ['the DestinationRule presenting a Secret by credentialName', (o) => { at(o, 'spec.trafficPolicy.portLevelSettings.0.tls')['credentialName'] = 'payroll-mtls' }, reach],
      ['the DestinationRule with a subset', (o) => { at(o, 'spec')['subsets'] = [{ name: 'x', labels: { app: 'x' } }] }, reach],
      ['the DestinationRule for another host', (o) => { at(o, 'spec')['host'] = 'payroll.internal.example.com' }, reach],
      ['the DestinationRule exported everywhere', (o) => { at(o, 'spec')['exportTo'] = ['*'] }, /exported to \. only/],
      ['the DestinationRule at another target\'s name', (o) => { o.metadata.name = 'egress-mtls-payroll' }, noEntry],
      ['the DestinationRule in a namespace the target is not in', (o) => { o.metadata.namespace = s.ns.p2; o.metadata.name = 'egress-mtls-tax-gw'; o.metadata.labels!['egress-mtls.io/target'] = 'tax-gw' }, noEntry],
    ])
    const se = find(s, 'ServiceEntry', s.ns.p2, 'egress-mtls-bank-api')
    await forgeriesRefused(s, se, [
      ['the ServiceEntry for another host', (o) => { at(o, 'spec')['hosts'] = ['payroll.internal.example.com'] }, reach],
      ['the ServiceEntry sending the host to an address', (o) => { at(o, 'spec')['resolution'] = 'STATIC'; at(o, 'spec')['endpoints'] = [{ address: '203.0.113.7' }] }, reach],
      ['a VirtualService at its name (routing targetPort renders none)', (o) => ({ ...o, apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', spec: { hosts: ['api.bank.example.com'], exportTo: ['.'], http: [{ route: [{ destination: { host: 'api.bank.example.com' } }] }] } }), noEntry],
    ])
  })
  test('provision --prune-all with the token deletes it all', async () => { await prunesAll(s) })
})

describe('routing virtualService, workloadSelector false', () => {
  let s: Setup
  before(async () => {
    s = await setUp('vs', (ns) => ({
      routing: 'virtualService',
      workloadSelector: false,
      targets: [
        { name: 'bank-api', host: 'api.bank.example.com', namespaces: [ns.p1] },
        { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: [ns.p1, ns.p2] },
      ],
    }))
  })
  test('provision with the provisioner\'s token: everything rendered accepted', async () => {
    assert.equal(s.rendered.length, 9)
    await provisionsAll(s)
  })
  test('forged: a route, mirror, gateway or selector the configuration does not make', async () => {
    const vs = find(s, 'VirtualService', s.ns.p2, 'egress-mtls-tax-gw')
    await forgeriesRefused(s, vs, [
      ['routing the host elsewhere', (o) => { at(o, 'spec.http.0.route.0.destination')['host'] = 'evil.example.net' }, reach],
      ['mirroring it', (o) => { at(o, 'spec.http.0')['mirror'] = { host: 'evil.example.net' } }, reach],
      ['answering it itself', (o) => { at(o, 'spec.http')['0'] = { match: at(o, 'spec.http.0')['match'], directResponse: { status: 200 } } }, reach],
      ['bound to a gateway', (o) => { at(o, 'spec')['gateways'] = ['mesh', 'istio-system/istio-egressgateway'] }, reach],
    ])
    const dr = find(s, 'DestinationRule', s.ns.p1, 'egress-mtls-bank-api')
    await forgeriesRefused(s, dr, [
      ['a workload selector the configuration turned off', (o) => { at(o, 'spec')['workloadSelector'] = { matchLabels: { 'egress-mtls.io/bank-api': 'true' } } }, reach],
    ])
  })
  test('provision --prune-all with the token deletes it all', async () => { await prunesAll(s) })
})

describe('mesh-wide targets in a custom mesh root, routing virtualService', () => {
  let s: Setup
  before(async () => {
    s = await setUp('mesh', (ns) => ({
      routing: 'virtualService',
      meshRootNamespace: ns.root,
      targets: [
        { name: 'mesh-gw', host: 'gw.mesh.example.net', namespaces: ['*'] },
        { name: 'bank-api', host: 'api.bank.example.com', namespaces: [ns.p1, ns.root] },
      ],
    }))
  })
  test('provision with the provisioner\'s token: everything rendered accepted', async () => {
    assert.equal(s.rendered.length, 9)
    await provisionsAll(s)
  })
  test('forged in the mesh root: another host, a namespaced target exported everywhere, another name', async () => {
    const dr = find(s, 'DestinationRule', s.ns.root, 'egress-mtls-mesh-gw')
    await forgeriesRefused(s, dr, [
      ['the mesh-wide DestinationRule for another host', (o) => { at(o, 'spec')['host'] = 'payroll.internal.example.com' }, /host gw\.mesh\.example\.net exported to \* only/],
      ['the mesh-wide DestinationRule exported to one namespace', (o) => { at(o, 'spec')['exportTo'] = ['.'] }, reach],
      ['the mesh-wide DestinationRule with a workload selector', (o) => { at(o, 'spec')['workloadSelector'] = { matchLabels: { app: 'x' } } }, reach],
      ['a DestinationRule of another name in the mesh root', (o) => { o.metadata.name = 'egress-mtls-payroll' }, noEntry],
    ])
    const vs = find(s, 'VirtualService', s.ns.root, 'egress-mtls-bank-api')
    await forgeriesRefused(s, vs, [
      ['a namespaced target\'s VirtualService in the mesh root exported everywhere', (o) => { at(o, 'spec')['exportTo'] = ['*'] }, /host api\.bank\.example\.com exported to \. only/],
    ])
  })
  test('provision --prune-all with the token deletes it all', async () => { await prunesAll(s) })
})

describe('egressGateway: namespaced, mesh-wide, one in the gateway\'s own namespace, a custom gateway; a sidecar target beside them', () => {
  let s: Setup
  const selector = { istio: 'egressgateway', 'app.example.com/egress': 'mtls' }
  before(async () => {
    s = await setUp('gateway', (ns) => ({
      meshRootNamespace: ns.root,
      egressGateway: { namespace: ns.gw, selector, service: `egw.${ns.gw}.svc.cluster.local`, port: 8443 },
      targets: [
        { name: 'bank-api', host: 'api.bank.example.com', namespaces: [ns.p1, ns.p2], origination: 'egressGateway', secretName: 'bank-client' },
        { name: 'mesh-gw', host: 'gw.mesh.example.net', namespaces: ['*'], origination: 'egressGateway' },
        { name: 'local', host: 'local.example.org', namespaces: [ns.gw], origination: 'egressGateway' },
        { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: [ns.p1] },
      ],
    }))
  })
  test('provision with the provisioner\'s token: everything rendered accepted (the gateway side, the hops, the routes)', async () => {
    const kinds = new Set(s.rendered.map((o) => o.kind))
    assert.deepEqual([...kinds].sort(), ['AuthorizationPolicy', 'DestinationRule', 'Gateway', 'ServiceEntry', 'VirtualService'])
    await provisionsAll(s)
  })
  test('forged Gateways in the gateway\'s namespace: another host, selector, port, TLS, server', async () => {
    const gw = find(s, 'Gateway', s.ns.gw, 'egress-mtls-bank-api-gateway')
    await forgeriesRefused(s, gw, [
      ['for another host', (o) => { at(o, 'spec.servers.0')['hosts'] = ['./payroll.internal.example.com'] }, /its spec exactly as rendered/],
      ['for every host', (o) => { at(o, 'spec.servers.0')['hosts'] = ['*/*'] }, reach],
      ['a second host beside ours', (o) => { (at(o, 'spec.servers.0')['hosts'] as unknown[]).push('./payroll.internal.example.com') }, reach],
      ['on other gateway pods', (o) => { at(o, 'spec')['selector'] = { istio: 'ingressgateway' } }, reach],
      ['on the gateway pods by part of their labels', (o) => { at(o, 'spec')['selector'] = { istio: 'egressgateway' } }, reach],
      ['serving TLS with a Secret of the gateway\'s namespace', (o) => { at(o, 'spec.servers.0')['tls'] = { mode: 'SIMPLE', credentialName: 'payroll-server' } }, reach],
      ['plain HTTP on another port', (o) => { at(o, 'spec.servers.0')['port'] = { number: 80, name: 'http', protocol: 'HTTP' }; delete at(o, 'spec.servers.0')['tls'] }, reach],
      ['a second server', (o) => { (at(o, 'spec')['servers'] as unknown[]).push({ ...at(o, 'spec.servers.0'), port: { number: 9443, name: 'https-2', protocol: 'HTTPS' } }) }, reach],
      ['another target\'s Gateway at a name the configuration does not make', (o) => { o.metadata.name = 'egress-mtls-payroll-gateway' }, noEntry],
      ['the Gateway in a target\'s namespace', (o) => { o.metadata.namespace = s.ns.p1 }, noEntry],
      ['labelled for another target', (o) => { o.metadata.labels!['egress-mtls.io/target'] = 'mesh-gw' }, reach],
    ])
  })
  test('forged AuthorizationPolicies in the gateway\'s namespace: only a DENY, for the target\'s host, on the configured gateway', async () => {
    const ap = find(s, 'AuthorizationPolicy', s.ns.gw, 'egress-mtls-bank-api-gateway')
    await forgeriesRefused(s, ap, [
      ['an ALLOW', (o) => { at(o, 'spec')['action'] = 'ALLOW' }, /its spec exactly as rendered/],
      ['a CUSTOM action', (o) => { at(o, 'spec')['action'] = 'CUSTOM'; at(o, 'spec')['provider'] = { name: 'evil' } }, reach],
      ['a DENY for another host', (o) => { at(o, 'spec.rules.0.when.0')['values'] = ['payroll.internal.example.com'] }, reach],
      ['a DENY for the host and another', (o) => { at(o, 'spec.rules.0.when.0')['values'] = ['api.bank.example.com', 'payroll.internal.example.com'] }, reach],
      ['a DENY of every host (no condition)', (o) => { delete at(o, 'spec.rules.0')['when'] }, reach],
      ['a DENY by Host header (HTTP-only: every other TCP chain denied)', (o) => { delete at(o, 'spec.rules.0')['when']; at(o, 'spec.rules.0')['to'] = [{ operation: { hosts: ['api.bank.example.com'] } }] }, reach],
      ['a DENY from every namespace, ours too', (o) => { at(o, 'spec.rules.0')['from'] = [{ source: { notNamespaces: [] } }] }, reach],
      ['a DENY on every workload of the namespace', (o) => { delete at(o, 'spec')['selector'] }, reach],
      ['a DENY on other pods', (o) => { at(o, 'spec')['selector'] = { matchLabels: { istio: 'ingressgateway' } } }, reach],
      ['a third rule', (o) => { (at(o, 'spec')['rules'] as unknown[]).push({}) }, reach],
      ['at another name', (o) => { o.metadata.name = 'egress-mtls-payroll-gateway' }, noEntry],
      ['the mesh-wide target\'s (none is rendered: it is every namespace\'s)', (o) => { o.metadata.name = 'egress-mtls-mesh-gw-gateway'; o.metadata.labels!['egress-mtls.io/target'] = 'mesh-gw' }, noEntry],
    ])
  })
  test('forged gateway-side DestinationRule and VirtualService: another Secret, host, gateway', async () => {
    const dr = find(s, 'DestinationRule', s.ns.gw, 'egress-mtls-bank-api-gateway')
    await forgeriesRefused(s, dr, [
      ['presenting another Secret of the gateway\'s namespace', (o) => { at(o, 'spec.trafficPolicy.portLevelSettings.0.tls')['credentialName'] = 'payroll-mtls' }, reach],
      ['presenting another target\'s Secret', (o) => { at(o, 'spec.trafficPolicy.portLevelSettings.0.tls')['credentialName'] = 'local-mtls' }, reach],
      ['for another host', (o) => { at(o, 'spec')['host'] = 'payroll.internal.example.com' }, reach],
      ['exported everywhere', (o) => { at(o, 'spec')['exportTo'] = ['*'] }, reach],
    ])
    const vs = find(s, 'VirtualService', s.ns.gw, 'egress-mtls-bank-api-gateway')
    await forgeriesRefused(s, vs, [
      ['applied to every sidecar too', (o) => { at(o, 'spec')['gateways'] = ['egress-mtls-bank-api-gateway', 'mesh'] }, reach],
      ['bound to another Gateway', (o) => { at(o, 'spec')['gateways'] = ['istio-egressgateway'] }, reach],
      ['routing elsewhere', (o) => { at(o, 'spec.http.0.route.0.destination')['host'] = 'evil.example.net' }, reach],
      ['for another host', (o) => { at(o, 'spec')['hosts'] = ['payroll.internal.example.com'] }, reach],
    ])
  })
  test('forged hop and route where the workloads are', async () => {
    const hop = find(s, 'DestinationRule', s.ns.root, 'egress-mtls-mesh-gw-hop')
    await forgeriesRefused(s, hop, [
      ['a mesh-wide policy for all traffic to the gateway', (o) => { at(o, 'spec')['trafficPolicy'] = { tls: { mode: 'DISABLE' } } }, reach],
      ['the subset in plain text', (o) => { at(o, 'spec.subsets.0.trafficPolicy.portLevelSettings.0')['tls'] = { mode: 'DISABLE' } }, reach],
      ['the subset selecting some of the gateway\'s pods', (o) => { at(o, 'spec.subsets.0')['labels'] = { version: 'evil' } }, reach],
      ['for another host', (o) => { at(o, 'spec')['host'] = 'istio-egressgateway.istio-system.svc.cluster.local' }, reach],
    ])
    const vs = find(s, 'VirtualService', s.ns.p2, 'egress-mtls-bank-api')
    await forgeriesRefused(s, vs, [
      ['every pod sent to the gateway (no source labels)', (o) => { delete at(o, 'spec.http.0.match.0')['sourceLabels'] }, reach],
      ['another target\'s pods sent to the gateway', (o) => { at(o, 'spec.http.0.match.0')['sourceLabels'] = { 'egress-mtls.io/tax-gw': 'true' } }, reach],
      ['routed to another subset', (o) => { at(o, 'spec.http.0.route.0.destination')['subset'] = 'egress-mtls-local' }, reach],
      ['routed past the gateway', (o) => { at(o, 'spec.http.0.route.0')['destination'] = { host: 'api.bank.example.com', port: { number: 443 } } }, reach],
    ])
    const taxSe = find(s, 'ServiceEntry', s.ns.p1, 'egress-mtls-tax-gw')
    await forgeriesRefused(s, taxSe, [
      ['a sidecar target\'s VirtualService answering itself (only the gateway routes\' may)', (o) => ({ ...o, kind: 'VirtualService', spec: { hosts: ['gw.tax.example.org'], exportTo: ['.'], http: [{ directResponse: { status: 403 } }] } }), noEntry],
    ])
  })
  test('provision --prune-all with the token deletes it all', async () => { await prunesAll(s) })
})

describe('waypoint: namespaced, mesh-wide, one in the waypoint\'s own namespace, the waypoint created; a sidecar target beside them', () => {
  let s: Setup
  before(async () => {
    s = await setUp('waypoint', (ns) => ({
      waypoint: { name: 'bank-egress', namespace: ns.gw, create: true },
      targets: [
        { name: 'bank-api', host: 'api.bank.example.com', namespaces: [ns.p1, ns.p2], origination: 'waypoint', secretName: 'bank-client' },
        { name: 'mesh-gw', host: 'gw.mesh.example.net', namespaces: ['*'], origination: 'waypoint' },
        { name: 'local', host: 'local.example.org', namespaces: [ns.gw], origination: 'waypoint' },
        { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: [ns.p1] },
      ],
    }))
  })
  test('provision with the provisioner\'s token: everything rendered accepted (the Secret reader, the waypoint, each target\'s objects)', async () => {
    assert.deepEqual([...new Set(s.rendered.map((o) => `${o.apiVersion} ${o.kind}`))].sort(), [
      'gateway.networking.k8s.io/v1 Gateway', 'networking.istio.io/v1 DestinationRule', 'networking.istio.io/v1 ServiceEntry',
      'rbac.authorization.k8s.io/v1 Role', 'rbac.authorization.k8s.io/v1 RoleBinding', 'security.istio.io/v1 AuthorizationPolicy',
    ])
    await provisionsAll(s)
  })
  test('forged: a wider Role or binding, a policy letting another namespace in, another Secret, a wider export, another target\'s name', async () => {
    const exact = /exactly as rendered/
    await forgeriesRefused(s, find(s, 'Role', s.ns.gw, 'egress-mtls-bank-egress-secrets'), [
      ['a Role that may also write Secrets', (o) => { o['rules'] = [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'update'] }] }, exact],
    ])
    await forgeriesRefused(s, find(s, 'RoleBinding', s.ns.gw, 'egress-mtls-bank-egress-secrets'), [
      ['bound to the release\'s own ServiceAccount', (o) => { o['subjects'] = [{ kind: 'ServiceAccount', name: 'default', namespace: s.ns.release }] }, exact],
    ])
    await forgeriesRefused(s, find(s, 'AuthorizationPolicy', s.ns.gw, 'egress-mtls-bank-api'), [
      ['allowing the mesh-root namespace too', (o) => { at(o, 'spec.rules.0.from.0.source')['namespaces'] = [s.ns.p1, s.ns.p2, s.ns.root] }, exact],
      ['the mesh-wide target\'s (none is rendered: it is every namespace\'s)', (o) => { o.metadata.name = 'egress-mtls-mesh-gw'; o.metadata.labels!['egress-mtls.io/target'] = 'mesh-gw' }, noEntry],
    ])
    await forgeriesRefused(s, find(s, 'DestinationRule', s.ns.gw, 'egress-mtls-bank-api'), [
      ['presenting another target\'s Secret', (o) => { at(o, 'spec.trafficPolicy.portLevelSettings.0.tls')['credentialName'] = 'local-mtls' }, reach],
    ])
    await forgeriesRefused(s, find(s, 'ServiceEntry', s.ns.gw, 'egress-mtls-bank-api'), [
      ['exported to the mesh root too', (o) => { at(o, 'spec')['exportTo'] = ['.', s.ns.p1, s.ns.p2, s.ns.root] }, reach],
      ['in a target\'s namespace (waypoint targets have nothing there)', (o) => { o.metadata.namespace = s.ns.p1 }, noEntry],
    ])
  })
  test('provision --prune-all with the token deletes it all', async () => { await prunesAll(s) })
})

for (const routing of ['targetPort', 'virtualService'] as const) {
  describe(`targets sharing a host, routing ${routing}`, () => {
    let s: Setup
    before(async () => {
      s = await setUp(`shared-${routing}`, (ns) => ({
        routing,
        targets: [
          { name: 'merchant-a', host: 'psp.example.com', namespaces: [ns.p1, ns.p2] },
          { name: 'merchant-b', host: 'psp.example.com', namespaces: [ns.p1] },
          { name: 'merchant-c', host: 'psp.example.com', namespaces: [ns.p1] },
          { name: 'other', host: 'other.example.com', namespaces: [ns.p2] },
        ],
      }))
    })
    test('provision with the provisioner\'s token: the shared objects and each target\'s, all accepted', async () => {
      assert.ok(s.rendered.some((o) => o.metadata.name === 'egress-mtls.psp.example.com' && o.metadata.labels['egress-mtls.io/target'] === undefined))
      assert.ok(s.rendered.some((o) => o.metadata.namespace === s.ns.p2 && o.metadata.name === 'egress-mtls-merchant-a' && o.kind === 'ServiceEntry'), 'alone on the host in p2: its own ServiceEntry')
      await provisionsAll(s)
    })
    test('forged shared objects: another host, a target label, a namespace where the host is not shared', async () => {
      const se = find(s, 'ServiceEntry', s.ns.p1, 'egress-mtls.psp.example.com')
      await forgeriesRefused(s, se, [
        ['a shared ServiceEntry for another host', (o) => { o.metadata.name = 'egress-mtls.payroll.internal.example.com'; at(o, 'spec')['hosts'] = ['payroll.internal.example.com'] }, noEntry],
        ['the shared ServiceEntry for another host', (o) => { at(o, 'spec')['hosts'] = ['payroll.internal.example.com'] }, /for no target \(shared by the targets of its host/],
        ['the shared ServiceEntry labelled as one target\'s', (o) => { o.metadata.labels!['egress-mtls.io/target'] = 'merchant-a' }, /for no target/],
        ['the shared ServiceEntry exported everywhere', (o) => { at(o, 'spec')['exportTo'] = ['*'] }, /exported to \. only/],
        ['a shared ServiceEntry where one target only is', (o) => { o.metadata.namespace = s.ns.p2 }, noEntry],
        ['a shared ServiceEntry of the other host', (o) => { o.metadata.name = 'egress-mtls.other.example.com'; at(o, 'spec')['hosts'] = ['other.example.com'] }, noEntry],
      ])
      const dr = find(s, 'DestinationRule', s.ns.p1, 'egress-mtls-merchant-b')
      await forgeriesRefused(s, dr, [
        ['a target\'s DestinationRule selecting another target\'s pods', (o) => { at(o, 'spec')['workloadSelector'] = { matchLabels: { 'egress-mtls.io/merchant-a': 'true' } } }, reach],
        ['a target\'s DestinationRule without its label (as a shared object)', (o) => { delete o.metadata.labels!['egress-mtls.io/target'] }, reach],
        ['a DestinationRule at the shared name', (o) => { o.metadata.name = 'egress-mtls.psp.example.com'; delete o.metadata.labels!['egress-mtls.io/target'] }, noEntry],
      ])
      if (routing === 'virtualService') {
        const vs = find(s, 'VirtualService', s.ns.p1, 'egress-mtls.psp.example.com')
        await forgeriesRefused(s, vs, [
          ['the shared VirtualService routing elsewhere', (o) => { at(o, 'spec.http.0.route.0.destination')['host'] = 'evil.example.net' }, reach],
          ['the shared VirtualService labelled as one target\'s', (o) => { o.metadata.labels!['egress-mtls.io/target'] = 'merchant-b' }, reach],
        ])
      }
    })
    test('provision --prune-all with the token deletes it all', async () => { await prunesAll(s) })
  })
}

describe('many targets: 250 targets in two namespaces, the entries over two variables', () => {
  let s: Setup
  before(async () => {
    s = await setUp('large', (ns) => ({
      targets: Array.from({ length: 250 }, (_, i) => ({ name: `t${i}`, host: `h${i}.example.com`, namespaces: [ns.p1, ns.p2] })),
    }))
  })
  test('the policy is accepted and enforced: the last object rendered passes, a forgery of it does not', async () => {
    assert.equal(s.rendered.length, 1000)
    const last = structuredClone(s.rendered.at(-1)) as unknown as Obj
    const target = last.metadata.labels?.['egress-mtls.io/target'] ?? ''
    await forgeriesRefused(s, last, [
      ['for another host', (o) => { at(o, 'spec')['host'] = 'h0.example.com' }, new RegExp(`for target ${target} `)],
      ['the first target\'s name', (o) => { o.metadata.name = 'egress-mtls-t0' }, /for target t0 /],
    ])
  })
})

describe('1,000 namespaces x 3 targets (the monitor benchmark\'s scale), routing virtualService, one target in half of them: the whole policy installed, a subset provisioned', () => {
  let s: Setup
  let full: Record<string, unknown>
  before(async () => {
    // 998 namespaces (the provisioner's Role is in each) and the case's two, the last of the list.
    const tag = randomBytes(3).toString('hex')
    const more = Array.from({ length: 998 }, (_, i) => `pc-scale-${tag}-${String(i).padStart(4, '0')}`)
    await pool(more, 16, async (name) => {
      await kubeJson(kc, { method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name, labels: { 'egress-mtls.io/e2e': 'true' } } } })
      made.push({ name, cleanup: async () => { await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${name}` }) } })
    })
    s = await setUp('scale', (ns) => {
      const all = [...more, ns.p1, ns.p2]
      full = {
        routing: 'virtualService',
        targets: [
          { name: 'bank-api', host: 'api.bank.example.com', namespaces: all },
          { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: all },
          { name: 'pay-hub', host: 'hub.pay.example.net', namespaces: all.filter((_, i) => i % 2 === 0) },
        ],
      }
      return full
    })
    // Provisioned: the same targets in the case's two namespaces only.
    const subset = { ...full, targets: (full['targets'] as { namespaces: string[] }[]).map((t) => ({ ...t, namespaces: t.namespaces.filter((n) => n === s.ns.p1 || n === s.ns.p2) })) }
    await writeFile(s.file, JSON.stringify(subset))
    s.rendered = render(resolvedConfig(subset), s.release)
  })
  test('the full configuration renders 7,500 objects; the policy the API server accepted is under 100,000 characters', async () => {
    assert.equal(render(resolvedConfig(full)).length, 7500)
    const policy = await kubeJson(kc, { path: `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${s.release}-egress-mtls-provision` }) as { spec: { variables: { name: string, expression: string }[] } }
    const size = JSON.stringify(policy.spec).length
    process.stderr.write(`[policy-configs] 1,000 namespaces x 3 targets: policy spec ${size} characters, variables ${policy.spec.variables.map((v) => `${v.name} ${v.expression.length}`).join(', ')}\n`)
    assert.ok(size < 100_000, `${size}`)
  })
  test('provision with the provisioner\'s token: everything rendered for the subset accepted', async () => {
    assert.equal(s.rendered.length, 15)
    await provisionsAll(s)
  })
  test('forged: another target\'s label, a target where it is not, another host, exported everywhere', async () => {
    const dr = find(s, 'DestinationRule', s.ns.p1, 'egress-mtls-tax-gw')
    await forgeriesRefused(s, dr, [
      ['labelled for another target', (o) => { o.metadata.labels!['egress-mtls.io/target'] = 'bank-api' }, /for target tax-gw/],
      ['for another host', (o) => { at(o, 'spec')['host'] = 'api.bank.example.com' }, reach],
      ['exported everywhere', (o) => { at(o, 'spec')['exportTo'] = ['*'] }, /exported to \. only/],
      ['at a name the configuration does not make', (o) => { o.metadata.name = 'egress-mtls-payroll' }, noEntry],
    ])
    const vs = find(s, 'VirtualService', s.ns.p2, 'egress-mtls-bank-api')
    await forgeriesRefused(s, vs, [
      ['routing elsewhere', (o) => { at(o, 'spec.http.0.route.0.destination')['host'] = 'evil.example.net' }, reach],
      ['the target in half the namespaces, in one it is not in', (o) => { o.metadata.name = 'egress-mtls-pay-hub'; o.metadata.labels!['egress-mtls.io/target'] = 'pay-hub'; at(o, 'spec')['hosts'] = ['hub.pay.example.net']; at(o, 'spec.http.0.route.0.destination')['host'] = 'hub.pay.example.net' }, noEntry],
    ])
  })
  test('provision --prune-all with the token deletes it all', async () => { await prunesAll(s) })
})

test('a configuration whose policy the API server could not parse fails helm template, saying why', async () => {
  const helm = process.env[HELM_ENV] ?? ''
  const values = join(work, 'too-large.json')
  const namespaces = Array.from({ length: 3000 }, (_, i) => `a-namespace-with-a-rather-long-name-${String(i).padStart(4, '0')}`)
  await writeFile(values, JSON.stringify({ config: { targets: [{ name: 't', host: 'h.example.com', namespaces }] } }))
  const r = await run(helm, ['template', 'big', join(repoRoot, 'charts', 'egress-mtls'), '-f', values], { cwd: repoRoot })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /config: the provisioner's admission policy lists the 3000 namespaces of a target's objects as a CEL map of \d+ characters, over the API server's 100,000/)
})

test('generated configurations (every field at the edges of the schema, a third of targets at the egress gateway, hosts shared): all that render produces is accepted', async () => {
  const spaces: string[] = []
  for (const prefix of ['gen-0', 'gen-1', 'gen-2', 'gen-release']) {
    const n = await freshNamespace(kc, `pc-${prefix}`)
    made.push(n)
    spaces.push(n.name)
  }
  const namespaces = spaces.slice(0, 3)
  const releaseNs = spaces[3] ?? ''
  // Half the draws give every other target the first one's host (and ports, in sidecar mode):
  // a host shared where the configuration allows it.
  const sharing = fc.tuple(configArbitrary(namespaces), fc.boolean()).map(([raw, share]) => {
    if (!share) return raw
    const targets = raw['targets'] as Record<string, unknown>[]
    const first = targets[0] ?? {}
    // Sidecar targets of one namespace at least (never mesh-wide), with the first one's host and ports.
    const meet = (t: Record<string, unknown>): Record<string, unknown> =>
      ({ ...t, host: first['host'], port: first['port'], plainPort: first['plainPort'], origination: 'sidecar', namespaces: [...new Set([namespaces[0], ...(t['namespaces'] as string[]).filter((n) => n !== '*')])] })
    return { ...raw, workloadSelector: true, targets: targets.map((t, i) => i === 0 || i % 2 === 1 ? meet(t) : t) }
  })
  let configs = 0
  let objects = 0
  let shared = 0
  await fc.assert(fc.asyncProperty(sharing, async (raw) => {
    const config = validConfig(raw)
    if (config === undefined) return
    configs++
    // The policy is probed where the provisioner has a Role: a namespace of the configuration's objects.
    const installed = await install(raw, releaseNs, render(config)[0]?.metadata.namespace ?? '')
    const wanted = render(config, installed.release)
    if (wanted.some((o) => o.metadata.name.startsWith('egress-mtls.'))) shared++
    for (const o of wanted) {
      const r = await apply(installed, o as unknown as Obj)
      assert.ok(r.status === 200 || r.status === 201, `${o.kind} ${o.metadata.namespace}/${o.metadata.name} of ${JSON.stringify(raw)}: HTTP ${r.status} ${r.body}`)
      objects++
    }
  }), { numRuns: 12 })
  assert.ok(configs >= 6, `only ${configs} of 12 generated configurations validated`)
  process.stderr.write(`[policy-configs] ${configs} generated configurations (${shared} with a shared host), ${objects} objects accepted with the provisioner's token\n`)
})
