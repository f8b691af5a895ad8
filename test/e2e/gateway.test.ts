// Origination at the egress gateway on the real API server, with the chart's provisioner
// ServiceAccount and its own token (its RBAC and ValidatingAdmissionPolicy created for real):
// provision writes the gateway side in the gateway's namespace and the hop and route in the
// target's, never reading the gateway's Secret; a second run changes nothing; a foreign object
// at one of the gateway names is a conflict left untouched; the policy refuses forged writes
// of gateway kinds that are not the release's; moving the target back to sidecar mode prunes
// every gateway object; uninstall leaves nothing.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'
import { parseAllDocuments, stringify } from 'yaml'

import { ISTIO_KINDS, istioPath, objectPath, render } from '../../src/core/istio/render.ts'
import { HELM_ENV } from '../support/binaries.ts'
import { resolvedConfig } from '../support/config.ts'
import { ACCESS_PLURALS, KUBECONFIG_ENV, kubeJson, kubeRequest, loadKubeConfig, restPath, serviceAccountKubeconfig } from '../support/kube.ts'
import { type FreshNamespace, freshNamespace } from '../support/namespaces.ts'
import { clientMaterial } from '../support/pki.ts'
import { repoRoot } from '../support/repo.ts'
import { run } from '../support/run.ts'
import { runCli } from '../support/run-cli.ts'

interface Obj {
  apiVersion: string,
  kind: string,
  metadata: { name: string, namespace?: string, resourceVersion?: string, labels?: Record<string, string> },
  [k: string]: unknown,
}

const PLURALS = ACCESS_PLURALS
const pathOf = (o: Obj): string => restPath(o, PLURALS)

const kc = loadKubeConfig()
const release = `gw-${randomBytes(3).toString('hex')}`
const full = `${release}-egress-mtls`
const made: FreshNamespace[] = []
const created: Obj[] = []
let work = ''
let releaseNs = ''
let payments = ''
let gatewayNs = ''
let provisioner: KubeConfig
let provisionerKubeconfig = ''

/** The configuration with bank-api at the gateway (or in sidecar mode), as a file. */
function rawConfig (origination: 'egressGateway' | 'sidecar'): Record<string, unknown> {
  return {
    egressGateway: { namespace: gatewayNs },
    targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: [payments], origination }],
  }
}

async function configFile (origination: 'egressGateway' | 'sidecar'): Promise<string> {
  const file = join(work, `${origination}.json`)
  await writeFile(file, JSON.stringify(rawConfig(origination)))
  return file
}

const provision = async (file: string, ...flags: string[]): Promise<{ code: number, stdout: string, stderr: string }> =>
  await runCli(['provision', ...(flags.includes('--prune-all') ? [] : ['--config', file]), '--kubeconfig', provisionerKubeconfig, '--instance', release, '--timeout', '20', ...flags])

/** Every object of the release, "Kind namespace/name", in the two namespaces. */
async function live (): Promise<string[]> {
  const out: string[] = []
  for (const ns of [gatewayNs, payments]) {
    for (const kind of ISTIO_KINDS) {
      const list = await kubeJson(kc, { path: istioPath(kind, ns) }) as { items: Obj[] }
      for (const o of list.items) if (o.metadata.labels?.['egress-mtls.io/instance'] === release) out.push(`${kind} ${ns}/${o.metadata.name}`)
    }
  }
  return out.sort()
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'egress-mtls-gateway-'))
  for (const prefix of ['gw-release', 'gw-payments', 'gw-gateway']) made.push(await freshNamespace(kc, prefix))
  ;[releaseNs, payments, gatewayNs] = made.map((n) => n.name) as [string, string, string]
  // The gateway's Secret (the key itself): the provisioner may not read it.
  await kubeJson(kc, { method: 'POST', path: `/api/v1/namespaces/${gatewayNs}/secrets`, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bank-api-mtls' }, stringData: { cert: 'x', key: 'y', cacert: 'z' } } })
  await upgradeChart('egressGateway')
  assert.deepEqual(created.filter((o) => o.kind === 'Role').map((o) => o.metadata.namespace).sort(), [gatewayNs, payments].sort(), 'a Role where the objects go, the gateway\'s namespace included')
})

/**
 * What helm install or upgrade with that configuration does to the provisioner: its RBAC and
 * its policy (which carries what the configuration produces) applied, then a wait until the
 * API server enforces this version (it loads policies asynchronously): a forged object
 * refused, every object of the configuration accepted (dry run).
 */
async function upgradeChart (origination: 'egressGateway' | 'sidecar'): Promise<void> {
  const helm = process.env[HELM_ENV]
  assert.ok(helm !== undefined && helm !== '', `${HELM_ENV} is not set: run under --test-global-setup=test/e2e/global-setup.ts`)
  const values = join(work, `values-${origination}.yaml`)
  await writeFile(values, stringify({ config: rawConfig(origination) }))
  const r = await run(helm, ['template', release, join(repoRoot, 'charts', 'egress-mtls'), '--namespace', releaseNs, '-f', values], { cwd: repoRoot })
  assert.equal(r.code, 0, r.stderr)
  const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null && o.kind in PLURALS && o.metadata.name === `${full}-provision`)
  objs.sort((a, b) => Number(b.kind.startsWith('Validating')) - Number(a.kind.startsWith('Validating')))
  for (const o of objs) {
    await kubeJson(kc, { method: 'PATCH', path: `${pathOf(o)}?fieldManager=egress-mtls-e2e&force=true`, body: o, contentType: 'application/apply-patch+yaml' })
    if (!created.some((c) => pathOf(c) === pathOf(o))) created.push(o)
  }
  if (provisionerKubeconfig === '') {
    provisionerKubeconfig = await serviceAccountKubeconfig(kc, releaseNs, `${full}-provision`, work)
    provisioner = loadKubeConfig(provisionerKubeconfig)
  }
  const deadline = Date.now() + 30_000
  const wanted = render(resolvedConfig(rawConfig(origination)), release)
  for (;;) {
    const probe = await kubeRequest(provisioner, { method: 'POST', path: `${istioPath('AuthorizationPolicy', gatewayNs)}?dryRun=All`, body: { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'probe' }, spec: {} } })
    const refused: string[] = []
    for (const o of wanted) {
      const w = await kubeRequest(provisioner, { method: 'PATCH', path: `${objectPath(o)}?fieldManager=egress-mtls-e2e-probe&dryRun=All`, body: o, contentType: 'application/apply-patch+yaml' })
      if (w.status === 403) refused.push(`${o.kind} ${o.metadata.namespace}/${o.metadata.name}: ${w.body}`)
    }
    if (probe.status === 403 && probe.body.includes('egress-mtls provisioner') && refused.length === 0) break
    assert.ok(Date.now() < deadline, `the provisioner policy for ${origination} is not in force after 30 s: HTTP ${probe.status} ${probe.body}; ${refused.join('; ')}`)
    await sleep(250)
  }
}

after(async () => {
  for (const o of created.filter((x) => x.metadata.namespace === undefined)) await kubeRequest(kc, { method: 'DELETE', path: pathOf(o) })
  for (const n of made) await n.cleanup()
})

test('gateway mode with the provisioner\'s token: the gateway side and the route, the Secret never read, then nothing to do', async () => {
  const file = await configFile('egressGateway')
  const first = await provision(file)
  assert.equal(first.code, 0, first.stderr)
  assert.doesNotMatch(first.stderr, /Secret|forbidden/i, 'the gateway\'s Secret is neither read nor reported')
  const want = render(resolvedConfig(rawConfig('egressGateway')), release)
  assert.deepEqual(await live(), want.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`).sort())
  assert.deepEqual(await live(), [
    `AuthorizationPolicy ${gatewayNs}/egress-mtls-bank-api-gateway`,
    `DestinationRule ${gatewayNs}/egress-mtls-bank-api-gateway`,
    `DestinationRule ${payments}/egress-mtls-bank-api-hop`,
    `Gateway ${gatewayNs}/egress-mtls-bank-api-gateway`,
    `ServiceEntry ${gatewayNs}/egress-mtls-bank-api-gateway`,
    `ServiceEntry ${payments}/egress-mtls-bank-api`,
    `VirtualService ${gatewayNs}/egress-mtls-bank-api-gateway`,
    `VirtualService ${payments}/egress-mtls-bank-api`,
  ])
  // Applied in render order: the gateway side (its policy first) before the route to it.
  assert.deepEqual(first.stdout.trim().split('\n').slice(0, -1), want.map((o) => `create ${o.kind} ${o.metadata.namespace}/${o.metadata.name}`))
  const again = await provision(file)
  assert.equal(again.code, 0, again.stderr)
  assert.equal(again.stdout.split('\n').at(-2), `provisioned: 0 created, 0 updated, ${want.length} unchanged, 0 deleted`)
  const plan = await provision(file, '--dry-run')
  assert.match(plan.stdout, /plan: 0 to create, 0 to update, 8 unchanged, 0 to delete/)
  // RBAC gives the provisioner no read of the gateway's Secret.
  const secret = await kubeRequest(provisioner, { path: `/api/v1/namespaces/${gatewayNs}/secrets/bank-api-mtls` })
  assert.equal(secret.status, 403, secret.body)
})

test('gateway kinds: forged writes by the provisioner\'s token are refused; a foreign Gateway at our name is a conflict, left untouched', async () => {
  const foreign = (kind: 'Gateway' | 'AuthorizationPolicy', name: string, labels: Record<string, string> = {}): Obj => ({
    apiVersion: kind === 'Gateway' ? 'networking.istio.io/v1' : 'security.istio.io/v1',
    kind,
    metadata: { name, labels },
    spec: kind === 'Gateway' ? { selector: { istio: 'egressgateway' }, servers: [{ port: { number: 443, name: 'https', protocol: 'HTTPS' }, hosts: ['./theirs.example.com'], tls: { mode: 'ISTIO_MUTUAL' } }] } : { action: 'DENY', rules: [{}] },
  })
  for (const kind of ['Gateway', 'AuthorizationPolicy'] as const) {
    const r = await kubeRequest(provisioner, { method: 'POST', path: istioPath(kind, gatewayNs), body: foreign(kind, 'forged', { team: 'x' }) })
    assert.equal(r.status, 403, `${kind}: HTTP ${r.status} ${r.body}`)
    assert.match(r.body, /egress-mtls provisioner: may not CREATE .*the new object does not carry/, kind)
  }
  // Someone else's AuthorizationPolicy on the shared gateway: the provisioner may not delete it.
  const theirs = await kubeJson(kc, { method: 'POST', path: istioPath('AuthorizationPolicy', gatewayNs), body: foreign('AuthorizationPolicy', 'platform-team') }) as Obj
  const del = await kubeRequest(provisioner, { method: 'DELETE', path: istioPath('AuthorizationPolicy', gatewayNs, 'platform-team') })
  assert.equal(del.status, 403, del.body)

  // A foreign Gateway where ours goes (ours removed first, by the admin).
  await kubeJson(kc, { method: 'DELETE', path: istioPath('Gateway', gatewayNs, 'egress-mtls-bank-api-gateway') })
  const gw = await kubeJson(kc, { method: 'POST', path: istioPath('Gateway', gatewayNs), body: foreign('Gateway', 'egress-mtls-bank-api-gateway', { team: 'network' }) }) as Obj
  const file = await configFile('egressGateway')
  const result = await provision(file)
  assert.equal(result.code, 1)
  assert.match(result.stderr, new RegExp(`Gateway ${gatewayNs}/egress-mtls-bank-api-gateway: conflict: .*run provision --adopt`))
  for (const [kind, o] of [['Gateway', gw], ['AuthorizationPolicy', theirs]] as const) {
    const now = await kubeJson(kc, { path: istioPath(kind, gatewayNs, o.metadata.name) }) as Obj
    assert.equal(now.metadata.resourceVersion, o.metadata.resourceVersion, `${kind} ${o.metadata.name} untouched`)
  }
  await kubeJson(kc, { method: 'DELETE', path: istioPath('Gateway', gatewayNs, 'egress-mtls-bank-api-gateway') })
  await kubeJson(kc, { method: 'DELETE', path: istioPath('AuthorizationPolicy', gatewayNs, 'platform-team') })
  const healed = await provision(file)
  assert.equal(healed.code, 0, healed.stderr)
  assert.match(healed.stdout, new RegExp(`create Gateway ${gatewayNs}/egress-mtls-bank-api-gateway`))
})

test('doctor checks the gateway side in one line each; probe reads the Secret from the gateway\'s namespace', async () => {
  const file = await configFile('egressGateway')
  const admin = process.env[KUBECONFIG_ENV] ?? ''
  const doctor = async (): Promise<string[]> => {
    const r = await runCli(['doctor', '--config', file, '--kubeconfig', admin, '--namespace', payments])
    assert.ok(r.code === 0 || r.code === 1, r.stderr)
    return r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('doctor:') && !l.includes(`Namespace ${payments}`))
  }
  const first = await doctor()
  assert.ok(first.includes(`fail Secret ${gatewayNs}/bank-api-mtls (target bank-api): cert is not a PEM certificate`), first.join('\n'))
  assert.ok(first.includes(`fail Service ${gatewayNs}/istio-egressgateway: not found: the sidecars send egressGateway targets to istio-egressgateway.${gatewayNs}.svc.cluster.local; install Istio's gateway chart there (or set egressGateway.service)`), first.join('\n'))
  assert.ok(first.includes(`fail egress gateway ${gatewayNs}/istio=egressgateway: no pod labelled istio=egressgateway in namespace ${gatewayNs}: nothing originates the mutual TLS of egressGateway targets`), first.join('\n'))
  const rendered = render(resolvedConfig(rawConfig('egressGateway')), release).map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)
  // doctor expects instance egress-mtls by default: with --instance it finds ours as rendered.
  const r = await runCli(['doctor', '--config', file, '--kubeconfig', admin, '--namespace', payments, '--instance', release])
  for (const o of rendered) assert.match(r.stdout, new RegExp(`^ok ${o}: as rendered$`, 'm'))
  assert.equal(first.some((l) => l.includes(`Secret ${payments}/`)), false, 'no Secret is looked for in the workload\'s namespace')

  // A real key pair and CA in the gateway's namespace, and the gateway's Service.
  const m = await clientMaterial()
  await kubeJson(kc, { method: 'PUT', path: `/api/v1/namespaces/${gatewayNs}/secrets/bank-api-mtls`, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bank-api-mtls' }, stringData: { cert: m.cert, key: m.key, cacert: m.cacert } } })
  await kubeJson(kc, { method: 'POST', path: `/api/v1/namespaces/${gatewayNs}/services`, body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'istio-egressgateway' }, spec: { selector: { istio: 'egressgateway' }, ports: [{ name: 'https', port: 443 }] } } })
  const second = await doctor()
  assert.ok(second.includes(`ok Secret ${gatewayNs}/bank-api-mtls (target bank-api): key matches the certificate`), second.join('\n'))
  assert.ok(second.includes(`ok Service ${gatewayNs}/istio-egressgateway: the egress gateway's Service (istio-egressgateway.${gatewayNs}.svc.cluster.local) exists`), second.join('\n'))

  // probe: the gateway's Secret, whatever -n says (but another namespace is bad usage).
  const probe = await runCli(['probe', 'bank-api', '--config', file, '--kubeconfig', admin, '--connect-to', '127.0.0.1:1', '--timeout', '5'])
  assert.equal(probe.code, 1)
  assert.match(probe.stdout, /127\.0\.0\.1:1/)
  assert.doesNotMatch(probe.stdout, /Secret .*: (not found|cannot read)/)
  const wrong = await runCli(['probe', 'bank-api', '-n', payments, '--config', file, '--kubeconfig', admin, '--timeout', '5'])
  assert.equal(wrong.code, 2)
  assert.match(wrong.stderr, new RegExp(`target bank-api originates at the egress gateway: its Secret is in namespace ${gatewayNs} only \\(drop -n ${payments}\\)`))
})

test('back to sidecar mode: every gateway object and the hop are pruned, the ServiceEntry stays as it was; uninstall leaves nothing', async () => {
  const before = await kubeJson(kc, { path: istioPath('ServiceEntry', payments, 'egress-mtls-bank-api') }) as Obj
  // helm upgrade with the target back in sidecar mode: the policy then allows the sidecar form.
  await upgradeChart('sidecar')
  const plan = await provision(await configFile('sidecar'), '--dry-run')
  assert.equal(plan.code, 0, plan.stderr)
  assert.match(plan.stdout, new RegExp(`unchanged ServiceEntry ${payments}/egress-mtls-bank-api`))
  assert.match(plan.stdout, new RegExp(`delete Gateway ${gatewayNs}/egress-mtls-bank-api-gateway \\(target bank-api is no longer provisioned in namespace ${gatewayNs}\\)`))
  const moved = await provision(await configFile('sidecar'))
  assert.equal(moved.code, 0, moved.stderr)
  assert.equal(moved.stdout.split('\n').at(-2), 'provisioned: 1 created, 0 updated, 1 unchanged, 7 deleted')
  assert.deepEqual(await live(), [`DestinationRule ${payments}/egress-mtls-bank-api`, `ServiceEntry ${payments}/egress-mtls-bank-api`])
  const after = await kubeJson(kc, { path: istioPath('ServiceEntry', payments, 'egress-mtls-bank-api') }) as Obj
  assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion, 'the ServiceEntry is the same in both modes')
  // and to the gateway again, then uninstall
  await upgradeChart('egressGateway')
  assert.equal((await provision(await configFile('egressGateway'))).code, 0)
  const pruned = await provision('', '--prune-all')
  assert.equal(pruned.code, 0, pruned.stderr)
  assert.deepEqual(await live(), [])
})
