// `egress-mtls doctor` against a real kube-apiserver: Secrets with real certificates
// (selfsigned: CA + client, SHA-256), the Istio objects as `provision` makes them, and a
// Deployment injected as the webhook injects it. The ok path, then one problem at a time.
// Istio objects are made with `provision --no-prune`, which deletes nothing of other tests.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'

import { parse as parseYaml } from 'yaml'

import { admit } from '../../src/core/admission/admit.ts'
import { applyPatch } from '../../src/core/admission/apply-patch.ts'
import { resolvedConfig } from '../support/config.ts'
import { KUBECONFIG_ENV, kubeJson, kubeRequest, loadKubeConfig } from '../support/kube.ts'
import { freshNamespace } from '../support/namespaces.ts'
import { type ClientMaterial, clientMaterial } from '../support/pki.ts'
import { type CliResult, runCli } from '../support/run-cli.ts'

const kc = loadKubeConfig()
const kubeconfig = process.env[KUBECONFIG_ENV] ?? ''
const dir = await mkdtemp(join(tmpdir(), 'egress-mtls-doctor-'))
const good = await clientMaterial()

interface Setup {
  readonly ns: string
  readonly config: string
}

/** A fresh namespace (and mesh root), a configuration with target bank-api there and mesh-wide target `mesh`, provisioned. */
interface SetupOptions {
  readonly labels?: Record<string, string>
  readonly secret?: Record<string, string> | null
  /** istiod's image in the mesh root namespace; null: no istiod. */
  readonly istiod?: string | null
}

async function setup (t: TestContext, options: SetupOptions = {}): Promise<Setup> {
  const made = await Promise.all([freshNamespace(kc, 'doctor', options.labels ?? { 'istio-injection': 'enabled' }), freshNamespace(kc, 'doctor-root')])
  t.after(() => Promise.all(made.map((n) => n.cleanup())))
  const [ns, root] = made.map((n) => n.name) as [string, string]
  const raw = {
    meshRootNamespace: root,
    targets: [
      { name: 'bank-api', host: 'api.bank.example.com', namespaces: [ns] },
      { name: 'mesh', host: 'mesh.example.com', namespaces: ['*'], secretName: 'mesh-client', secretKeys: { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' } },
    ],
  }
  resolvedConfig(raw)
  const config = join(dir, `${ns}.json`)
  await writeFile(config, JSON.stringify(raw))
  const provisioned = await runCli(['provision', '--no-prune', '--config', config, '--kubeconfig', kubeconfig])
  assert.equal(provisioned.code, 0, provisioned.stderr)
  if (options.secret !== null) await secret(ns, 'bank-api-mtls', options.secret ?? { cert: good.cert, key: good.key, cacert: good.cacert })
  await secret(ns, 'mesh-client', { 'tls.crt': good.cert, 'tls.key': good.key, 'ca.crt': good.cacert })
  if (options.istiod !== null) await istiod(root, options.istiod ?? 'docker.io/istio/pilot:1.30.3')
  return { ns, config }
}

/** istiod's Deployment as Istio's Helm chart makes it (nothing runs it: there is no kubelet here). */
async function istiod (root: string, image: string, name = 'istiod'): Promise<void> {
  const labels = { app: 'istiod', 'istio.io/rev': 'default' }
  await kubeJson(kc, {
    method: 'POST',
    path: `/apis/apps/v1/namespaces/${root}/deployments`,
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, labels },
      spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'discovery', image }] } } },
    },
  })
}

async function secret (ns: string, name: string, stringData: Record<string, string>): Promise<void> {
  await kubeJson(kc, { method: 'POST', path: `/api/v1/namespaces/${ns}/secrets`, body: { metadata: { name }, stringData } })
}

const material = (m: ClientMaterial): Record<string, string> => ({ cert: m.cert, key: m.key, cacert: m.cacert })

/** A Deployment labelled for injection, created as the webhook would have mutated it (or not). */
async function deployment (s: Setup, name: string, injected: boolean, labels: Record<string, string> = { 'egress-mtls.io/inject': 'true' }, podLabels: Record<string, string> = {}): Promise<void> {
  const object = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: s.ns, labels },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name, ...podLabels } }, spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] } },
    },
  }
  const config = resolvedConfig(JSON.parse(await readFile(s.config, 'utf8')) as unknown)
  const { patch } = admit({ uid: 'u', kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, namespace: s.ns, operation: 'CREATE', object }, config)
  const body = injected ? applyPatch(object, patch) : object
  await kubeJson(kc, { method: 'POST', path: `/apis/apps/v1/namespaces/${s.ns}/deployments`, body })
}

const doctor = (s: Setup, ...args: string[]): Promise<CliResult> =>
  runCli(['doctor', '--config', s.config, '--kubeconfig', kubeconfig, '--namespace', s.ns, ...args])
const lines = (r: CliResult): string[] => r.stdout.split('\n').filter((l) => l !== '')
const failures = (r: CliResult): string[] => lines(r).filter((l) => l.startsWith('fail '))

test('all is well: a line per check, all ok, exit 0', async (t) => {
  const s = await setup(t)
  await deployment(s, 'web', true)
  const r = await doctor(s, 'deployment/web')
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const out = lines(r)
  const root = out.find((l) => l.includes('/egress-mtls-mesh'))?.split(' ')[2]?.split('/')[0]
  assert.ok(root !== undefined)
  const dates = (l: string): string => l.replace(/\d+ days \(\d{4}-\d\d-\d\d\)/, 'N days (DATE)').replace(/until \d{4}-\d\d-\d\d \(\d+ days\)/, 'until DATE (N days)')
  const trust = "the server must trust its issuer 'CN=egress-mtls test CA'"
  assert.deepEqual(out.map(dates), [
    `ok Secret ${s.ns}/bank-api-mtls (target bank-api): keys cert, key, cacert present`,
    `ok Secret ${s.ns}/bank-api-mtls (target bank-api): key matches the certificate`,
    `ok Secret ${s.ns}/bank-api-mtls (target bank-api): the client certificate expires in N days (DATE)`,
    `ok Secret ${s.ns}/bank-api-mtls (target bank-api): cert sends the client certificate alone; ${trust}, or cert must hold the intermediates after it`,
    `ok Secret ${s.ns}/bank-api-mtls (target bank-api): cacert holds 1 CA certificate to verify the server: 'CN=egress-mtls test CA' until DATE (N days)`,
    `ok ServiceEntry ${s.ns}/egress-mtls-bank-api: as rendered`,
    `ok DestinationRule ${s.ns}/egress-mtls-bank-api: as rendered`,
    `ok Secret ${s.ns}/mesh-client (target mesh): keys tls.crt, tls.key, ca.crt present`,
    `ok Secret ${s.ns}/mesh-client (target mesh): tls.key matches the certificate`,
    `ok Secret ${s.ns}/mesh-client (target mesh): the client certificate expires in N days (DATE)`,
    `ok Secret ${s.ns}/mesh-client (target mesh): tls.crt sends the client certificate alone; ${trust}, or tls.crt must hold the intermediates after it`,
    `ok Secret ${s.ns}/mesh-client (target mesh): ca.crt holds 1 CA certificate to verify the server: 'CN=egress-mtls test CA' until DATE (N days)`,
    `ok ServiceEntry ${root}/egress-mtls-mesh: as rendered`,
    `ok DestinationRule ${root}/egress-mtls-mesh: as rendered`,
    `ok Istio (${root}/istiod): Istio 1.30.3 (image docker.io/istio/pilot:1.30.3) reloads every renewal of a mounted Secret`,
    'ok deployment/web: injected with bank-api,mesh (pod template as the webhook makes it)',
    `ok deployment/web: presents to api.bank.example.com the client certificate of target bank-api (Secret ${s.ns}/bank-api-mtls)`,
    `ok deployment/web: presents to mesh.example.com the client certificate of target mesh (Secret ${s.ns}/mesh-client)`,
    `ok Namespace ${s.ns}: Istio sidecar injection enabled (istio-injection=enabled)`,
    'doctor: 19 ok, 0 warn, 0 fail',
  ])
  // A bare name is a Deployment.
  assert.equal((await doctor(s, 'web')).code, 0)
})

test('an istiod older than 1.29.3 / 1.30.3 warns, saying what to do; no istiod warns; exit 0', async (t) => {
  const old = await setup(t, { istiod: 'docker.io/istio/pilot:1.29.2-distroless' })
  const r = await doctor(old)
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const warns = lines(r).filter((l) => l.startsWith('warn '))
  assert.equal(warns.length, 1, r.stdout)
  assert.match(warns[0]!, /^warn Istio \(doctor-root-[0-9a-f]+\/istiod\): Istio 1\.29\.2 \(image docker\.io\/istio\/pilot:1\.29\.2-distroless\): its sidecars reload a mounted Secret's first renewal only \(istio\/istio#59912\).* Upgrade Istio to 1\.29\.3, 1\.30\.3 or later, or restart the workloads \(kubectl rollout restart\) after each renewal$/)

  const none = await setup(t, { istiod: null })
  const n = await doctor(none)
  assert.equal(n.code, 0, n.stdout + n.stderr)
  assert.deepEqual(lines(n).filter((l) => l.startsWith('warn ')).map((l) => l.replace(/doctor-root-[0-9a-f]+/, 'ROOT')), [
    'warn Istio (ROOT): no istiod Deployment (label app=istiod) here: cannot tell whether the sidecars reload a renewed client certificate (Istio 1.29.3, 1.30.3 and later do)',
  ])
})

test('a missing Secret fails', async (t) => {
  const s = await setup(t, { secret: null })
  const r = await doctor(s)
  assert.equal(r.code, 1)
  assert.deepEqual(failures(r), [`fail Secret ${s.ns}/bank-api-mtls (target bank-api): not found; create it with keys cert, key, cacert`])
})

test('a key that does not match the certificate fails', async (t) => {
  const other = await clientMaterial({ ca: good.ca })
  const s = await setup(t, { secret: { ...material(good), key: other.key } })
  const r = await doctor(s)
  assert.equal(r.code, 1)
  assert.deepEqual(failures(r), [`fail Secret ${s.ns}/bank-api-mtls (target bank-api): key does not match the certificate in cert`])
})

test('a client certificate from another CA than cacert is correct; a cacert that holds no CA fails', async (t) => {
  // cacert verifies the external server; the client certificate comes from the server's client CA.
  const serverCa = await clientMaterial()
  const s = await setup(t, { secret: { ...material(good), cacert: serverCa.cacert } })
  const r = await doctor(s)
  assert.equal(r.code, 0, r.stdout)
  assert.deepEqual(failures(r), [])

  const s2 = await setup(t, { secret: { ...material(good), cacert: serverCa.cert } })
  const r2 = await doctor(s2)
  assert.equal(r2.code, 1)
  assert.deepEqual(failures(r2), [
    `fail Secret ${s2.ns}/bank-api-mtls (target bank-api): cacert: 'CN=egress-mtls test client' is not a CA certificate (no basicConstraints CA:TRUE); cacert holds the CAs that issued the external server's certificate`,
    `fail Secret ${s2.ns}/bank-api-mtls (target bank-api): cacert holds no CA certificate valid now: the sidecar cannot verify the server`,
  ])
})

test('an expired certificate fails; one expiring within 30 days warns and exits 0', async (t) => {
  const expired = await clientMaterial({ ca: good.ca, validFromDays: -60, validToDays: -1 })
  const s = await setup(t, { secret: material(expired) })
  const r = await doctor(s)
  assert.equal(r.code, 1)
  assert.equal(failures(r).length, 1)
  assert.match(failures(r)[0]!, new RegExp(`^fail Secret ${s.ns}/bank-api-mtls \\(target bank-api\\): the client certificate expired on \\d{4}-\\d\\d-\\d\\d$`))

  const soon = await clientMaterial({ ca: good.ca, validToDays: 10 })
  const s2 = await setup(t, { secret: material(soon) })
  const w = await doctor(s2)
  assert.equal(w.code, 0, w.stdout)
  assert.ok(lines(w).some((l) => /^warn Secret .*: the client certificate expires in (9|10) days/.test(l)), w.stdout)
  assert.match(lines(w).at(-1)!, /^doctor: \d+ ok, 1 warn, 0 fail$/)
})

test('Istio objects drifted or deleted fail, naming what differs', async (t) => {
  const s = await setup(t)
  const dr = `/apis/networking.istio.io/v1/namespaces/${s.ns}/destinationrules/egress-mtls-bank-api`
  const patched = await kubeRequest(kc, {
    method: 'PATCH', path: `${dr}?fieldManager=kubectl-edit`, contentType: 'application/json-patch+json',
    body: [{ op: 'replace', path: '/spec/trafficPolicy/portLevelSettings/0/tls/mode', value: 'SIMPLE' }],
  })
  assert.equal(patched.status, 200, patched.body)
  const deleted = await kubeRequest(kc, { method: 'DELETE', path: `/apis/networking.istio.io/v1/namespaces/${s.ns}/serviceentries/egress-mtls-bank-api` })
  assert.equal(deleted.status, 200, deleted.body)

  const r = await doctor(s)
  assert.equal(r.code, 1)
  assert.deepEqual(failures(r), [
    `fail ServiceEntry ${s.ns}/egress-mtls-bank-api: not found; run egress-mtls provision`,
    `fail DestinationRule ${s.ns}/egress-mtls-bank-api: differs from what render produces at spec.trafficPolicy.portLevelSettings[0].tls.mode; run egress-mtls provision`,
  ])
  // provision repairs both; doctor agrees.
  assert.equal((await runCli(['provision', '--no-prune', '--config', s.config, '--kubeconfig', kubeconfig])).code, 0)
  assert.equal((await doctor(s)).code, 0)
})

test('a workload not injected fails; one missing fails; sidecar injection off warns', async (t) => {
  const s = await setup(t, { labels: {} })
  await deployment(s, 'plain', false)
  const r = await doctor(s, 'deploy/plain')
  assert.equal(r.code, 1)
  assert.deepEqual(failures(r), ['fail deployment/plain: not injected (no egress-mtls.io/injected on the pod template); with the webhook running, re-apply it or run kubectl rollout restart deployment/plain'])
  assert.match(lines(r).find((l) => l.startsWith('warn '))!, new RegExp(`^warn Namespace ${s.ns}: Istio sidecar injection is not enabled`))

  const missing = await doctor(s, 'statefulset/nope')
  assert.deepEqual(failures(missing), [`fail statefulset/nope: not found in namespace ${s.ns}`])

  const bad = await doctor(s, 'service/web')
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /workload "service\/web": expected NAME \(a Deployment\) or KIND\/NAME/)
})

test('without a workload: the namespace scan reports the workloads label mode hides from the webhook; -o json and -o yaml', async (t) => {
  const s = await setup(t)
  await deployment(s, 'web', true)
  await deployment(s, 'yes', false, { 'egress-mtls.io/inject': 'yes' })
  await deployment(s, 'templated', false, {}, { 'egress-mtls.io/inject': 'true' })
  await deployment(s, 'plain', false, {})
  const r = await doctor(s)
  assert.equal(r.code, 1, r.stdout + r.stderr)
  const hidden = 'the webhook never sees it: in label mode its objectSelector matches egress-mtls.io/inject: "true" on the Deployment itself only, so kubectl shows no warning; label the Deployment egress-mtls.io/inject=true'
  assert.deepEqual(failures(r), [
    "fail deployment/templated: label egress-mtls.io/inject is on the pod template; the Deployment's own labels opt it in: nothing injected",
    `fail deployment/templated: ${hidden}`,
    'fail deployment/yes: label egress-mtls.io/inject is "yes", neither "true" (opt in) nor "false" (opt out): nothing injected',
    `fail deployment/yes: ${hidden}`,
  ])
  assert.ok(lines(r).includes('ok deployment/web: injected with bank-api,mesh (pod template as the webhook makes it)'), r.stdout)
  assert.ok(lines(r).includes(`ok Namespace ${s.ns}: 4 workloads scanned, 3 asking for egress-mtls, 1 injected as the webhook makes it`), r.stdout)

  const json = await doctor(s, '-o', 'json')
  assert.equal(json.code, 1)
  const report = JSON.parse(json.stdout) as {
    namespace: string,
    findings: { level: string, subject: string, message: string }[],
    summary: Record<string, number>,
  }
  assert.equal(report.namespace, s.ns)
  assert.deepEqual(report.summary, { ok: 20, warn: 0, fail: 4 })
  assert.deepEqual(report.findings.filter((f) => f.level === 'fail').map((f) => f.subject), ['deployment/templated', 'deployment/templated', 'deployment/yes', 'deployment/yes'])
  const yaml = await doctor(s, '-o', 'yaml')
  assert.deepEqual(parseYaml(yaml.stdout), report)
  assert.equal((await doctor(s, '-o', 'table')).code, 2)
})

test('a namespace that does not exist fails', async (t) => {
  const s = await setup(t)
  const r = await runCli(['doctor', '--config', s.config, '--kubeconfig', kubeconfig, '--namespace', `${s.ns}-gone`])
  assert.equal(r.code, 1)
  assert.deepEqual(lines(r), [`fail Namespace ${s.ns}-gone: not found`, 'doctor: 0 ok, 0 warn, 1 fail'])
})
