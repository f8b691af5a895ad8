// The monitor on the real API server, with the chart's RBAC and its own ServiceAccount's token:
// what the token may read (the targets' Secrets, by name, and nothing else), and the real
// `egress-mtls monitor` process turning Secret creations, updates and deletions into metrics
// within seconds, by watch.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'
import { parseAllDocuments, stringify } from 'yaml'

import { HELM_ENV } from '../support/binaries.ts'
import { ACCESS_PLURALS, kubeJson, kubeRequest, loadKubeConfig, restPath, serviceAccountKubeconfig } from '../support/kube.ts'
import { sample, scrape } from '../support/metrics-port.ts'
import { type FreshNamespace, freshNamespace } from '../support/namespaces.ts'
import { clientMaterial, notAfterSeconds, testAuthority } from '../support/pki.ts'
import { cliMain, repoRoot } from '../support/repo.ts'
import { run } from '../support/run.ts'

interface Obj { apiVersion: string, kind: string, metadata: { name: string, namespace?: string }, [k: string]: unknown }
const pathOf = (o: Obj): string => restPath(o, ACCESS_PLURALS)
const secrets = (ns: string, name = ''): string => `/api/v1/namespaces/${ns}/secrets${name === '' ? '' : `/${name}`}`

const kc = loadKubeConfig()
const suffix = randomBytes(3).toString('hex')
const release = `mon-${suffix}`
const meshSecret = `mesh-${suffix}-mtls`
const made: FreshNamespace[] = []
const created: Obj[] = []
let work = ''
let releaseNs = ''
let payments = ''
let billing = ''
let monitorKubeconfig = ''
let monitor: KubeConfig
let child: ChildProcess | undefined
let logs = ''
let metricsPort = 0
const raw = {
  targets: [
    { name: 'bank-api', host: 'api.bank.example.com', namespaces: [] as string[] },
    { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: [] as string[], secretKeys: { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' } },
    { name: 'mesh', host: 'mesh.example.net', namespaces: ['*'], secretName: meshSecret },
  ],
}

const clientCa = await testAuthority('client CA')
const serverCa = await testAuthority('server CA', { validToDays: 200 })
const secretBody = (name: string, data: Record<string, string>): unknown => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'Opaque', stringData: data })

async function putSecret (ns: string, name: string, data: Record<string, string>): Promise<void> {
  const r = await kubeRequest(kc, { method: 'PUT', path: secrets(ns, name), body: secretBody(name, data) })
  if (r.status === 404) await kubeJson(kc, { method: 'POST', path: secrets(ns), body: secretBody(name, data) })
  else assert.equal(r.status, 200, r.body)
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'egress-mtls-monitor-'))
  for (const prefix of ['mon-release', 'mon-payments', 'mon-billing']) made.push(await freshNamespace(kc, prefix))
  ;[releaseNs, payments, billing] = made.map((n) => n.name) as [string, string, string]
  raw.targets[0]!.namespaces = [payments, billing]
  raw.targets[1]!.namespaces = [billing]
  const helm = process.env[HELM_ENV]
  assert.ok(helm !== undefined && helm !== '', `${HELM_ENV} is not set: run under --test-global-setup=test/e2e/global-setup.ts`)
  const values = join(work, 'values.yaml')
  await writeFile(values, stringify({ config: raw }))
  await writeFile(join(work, 'config.json'), JSON.stringify(raw))
  const r = await run(helm, ['template', release, join(repoRoot, 'charts', 'egress-mtls'), '--namespace', releaseNs, '-f', values, '--show-only', 'templates/monitor-rbac.yaml'], { cwd: repoRoot })
  assert.equal(r.code, 0, r.stderr)
  const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null)
  assert.deepEqual(objs.map((o) => `${o.kind} ${o.metadata.namespace ?? ''}`).sort(), [
    'ClusterRole ', 'ClusterRoleBinding ', `Role ${billing}`, `Role ${payments}`, `RoleBinding ${billing}`, `RoleBinding ${payments}`, `ServiceAccount ${releaseNs}`,
  ].sort())
  for (const o of objs) {
    await kubeJson(kc, { method: 'PATCH', path: `${pathOf(o)}?fieldManager=egress-mtls-e2e&force=true`, body: o, contentType: 'application/apply-patch+yaml' })
    created.push(o)
  }
  monitorKubeconfig = await serviceAccountKubeconfig(kc, releaseNs, `${release}-egress-mtls-monitor`, work)
  monitor = loadKubeConfig(monitorKubeconfig)
})

after(async () => {
  child?.kill('SIGKILL')
  for (const o of created.filter((x) => x.metadata.namespace === undefined)) await kubeRequest(kc, { method: 'DELETE', path: pathOf(o) })
  for (const n of made) await n.cleanup()
})

test('the monitor\'s own token reads the targets\' Secrets by name, and nothing else', async () => {
  await putSecret(payments, 'bank-api-mtls', { cert: 'x', key: 'y', cacert: 'z' })
  await putSecret(payments, 'other', { x: 'y' })
  await putSecret(releaseNs, meshSecret, { x: 'y' })
  const status = async (path: string): Promise<number> => (await kubeRequest(monitor, { path })).status
  const byName = (name: string): string => `fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`
  // What the monitor does: get, list and watch by name, in a namespace a target lists...
  assert.equal(await status(secrets(payments, 'bank-api-mtls')), 200)
  assert.equal(await status(secrets(billing, 'tax-gw-mtls')), 404, 'allowed, and absent')
  assert.equal(await status(`${secrets(payments)}?${byName('bank-api-mtls')}`), 200)
  assert.equal(await status(`${secrets(payments)}?${byName('bank-api-mtls')}&watch=true&timeoutSeconds=1`), 200)
  // ... and across namespaces for the mesh-wide target's Secret name.
  assert.equal(await status(`/api/v1/secrets?${byName(meshSecret)}`), 200)
  assert.equal(await status(`/api/v1/secrets?${byName(meshSecret)}&watch=true&timeoutSeconds=1`), 200)
  assert.equal(await status(secrets(releaseNs, meshSecret)), 200)
  // Nothing else: another Secret, a list or watch without the name, a name not configured there.
  assert.equal(await status(secrets(payments, 'other')), 403)
  assert.equal(await status(secrets(payments)), 403)
  assert.equal(await status(`${secrets(payments)}?watch=true&timeoutSeconds=1`), 403)
  assert.equal(await status(`${secrets(payments)}?${byName('other')}`), 403)
  assert.equal(await status(`${secrets(payments)}?${byName('tax-gw-mtls')}`), 403, 'tax-gw is not available in payments')
  assert.equal(await status(secrets(releaseNs, 'bank-api-mtls')), 403)
  assert.equal(await status('/api/v1/secrets'), 403)
  assert.equal(await status(`/api/v1/secrets?${byName('bank-api-mtls')}`), 403, 'a namespaced target\'s Secret is not granted across namespaces')
  for (const path of [`/api/v1/namespaces/${payments}/configmaps`, `/api/v1/namespaces/${payments}/pods`, `/apis/apps/v1/namespaces/${payments}/deployments`, `/apis/networking.istio.io/v1/namespaces/${payments}/destinationrules`, '/api/v1/namespaces']) {
    assert.equal(await status(path), 403, path)
  }
  // No write either.
  const write = await kubeRequest(monitor, { method: 'PUT', path: secrets(payments, 'bank-api-mtls'), body: secretBody('bank-api-mtls', { cert: 'a' }) })
  assert.equal(write.status, 403, write.body)
  const del = await kubeRequest(monitor, { method: 'DELETE', path: secrets(payments, 'bank-api-mtls') })
  assert.equal(del.status, 403, del.body)
  for (const [ns, name] of [[payments, 'bank-api-mtls'], [payments, 'other'], [releaseNs, meshSecret]] as const) await kubeJson(kc, { method: 'DELETE', path: secrets(ns, name) })
})

/** Scrapes until `check` holds, returning how long it took; fails after `ms`. */
async function until (what: string, check: (metrics: string) => boolean, ms = 10_000): Promise<number> {
  const start = Date.now()
  let last = ''
  while (Date.now() - start < ms) {
    last = await scrape(metricsPort)
    if (check(last)) return Date.now() - start
    await sleep(100)
  }
  assert.fail(`${what}: not seen within ${ms} ms\n${last.split('\n').filter((l) => l.startsWith('egress_mtls_client')).join('\n')}\n${logs}`)
}

test('the real monitor process: a Secret created, updated, broken and deleted reaches its metrics within seconds', async () => {
  const good = await clientMaterial({ ca: clientCa, validToDays: 90 })
  await putSecret(payments, 'bank-api-mtls', { cert: good.cert, key: good.key, cacert: serverCa.cert })
  child = spawn(process.execPath, [cliMain, 'monitor', '--config', join(work, 'config.json'), '--kubeconfig', monitorKubeconfig, '--metrics-listen', '127.0.0.1:0'], { env: { PATH: process.env['PATH'] } })
  child.stdout?.setEncoding('utf8').on('data', (s: string) => { logs += s })
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { logs += s })
  const deadline = Date.now() + 30_000
  while (metricsPort === 0) {
    const m = /"metricsPort":(\d+)/.exec(logs)
    if (m !== null) metricsPort = Number(m[1])
    assert.ok(Date.now() < deadline && child.exitCode === null, `no metrics port: ${logs}`)
    await sleep(50)
  }
  const labels = (ns: string, target: string, secret = `${target}-mtls`): Record<string, string> => ({ namespace: ns, target, secret })
  const NOT_AFTER = 'egress_mtls_client_certificate_not_after_timestamp_seconds'
  const PROBLEM = 'egress_mtls_client_secret_problem'
  const problem = (text: string, l: Record<string, string>, reason: string): number | undefined => sample(text, PROBLEM, { ...l, reason })
  await until('ready, the present Secret read and the absent ones missing', (m) =>
    sample(m, NOT_AFTER, labels(payments, 'bank-api')) === notAfterSeconds(good.cert) &&
    problem(m, labels(billing, 'bank-api'), 'missing') === 1 &&
    problem(m, labels(billing, 'tax-gw'), 'missing') === 1)
  const first = await scrape(metricsPort)
  assert.equal(sample(first, 'egress_mtls_client_ca_certificate_not_after_timestamp_seconds', labels(payments, 'bank-api')), notAfterSeconds(serverCa.cert))
  assert.equal(sample(first, 'egress_mtls_client_certificate_not_before_timestamp_seconds', labels(payments, 'bank-api')) !== undefined, true)
  assert.equal(first.split('\n').filter((l) => l.startsWith(`${PROBLEM}{`) && l.includes(`namespace="${payments}"`)).length, 0, 'no problem in payments')
  assert.equal(first.split('\n').filter((l) => l.includes('target="mesh"')).length, 0, 'a mesh-wide target\'s Secret is reported where it exists only')
  assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200)

  // Created: the missing Secret, with the target's own keys.
  const tax = await clientMaterial({ ca: clientCa, validToDays: 40 })
  await putSecret(billing, 'tax-gw-mtls', { 'tls.crt': tax.cert, 'tls.key': tax.key, 'ca.crt': serverCa.cert })
  const created = await until('created', (m) => sample(m, NOT_AFTER, labels(billing, 'tax-gw')) === notAfterSeconds(tax.cert) && problem(m, labels(billing, 'tax-gw'), 'missing') === undefined)
  // Updated: a renewed certificate.
  const renewed = await clientMaterial({ ca: clientCa, validToDays: 365 })
  await putSecret(payments, 'bank-api-mtls', { cert: renewed.cert, key: renewed.key, cacert: serverCa.cert })
  const updated = await until('renewed', (m) => sample(m, NOT_AFTER, labels(payments, 'bank-api')) === notAfterSeconds(renewed.cert))
  // Broken: the key of another certificate, then an expired certificate.
  await putSecret(payments, 'bank-api-mtls', { cert: renewed.cert, key: good.key, cacert: serverCa.cert })
  await until('key_mismatch', (m) => problem(m, labels(payments, 'bank-api'), 'key_mismatch') === 1)
  const expired = await clientMaterial({ ca: clientCa, validFromDays: -30, validToDays: -1 })
  await putSecret(payments, 'bank-api-mtls', { cert: expired.cert, key: expired.key, cacert: serverCa.cert })
  await until('expired', (m) => problem(m, labels(payments, 'bank-api'), 'expired') === 1 && problem(m, labels(payments, 'bank-api'), 'key_mismatch') === undefined)
  await putSecret(payments, 'bank-api-mtls', { cert: 'not a certificate', key: expired.key, cacert: serverCa.cert })
  await until('unreadable', (m) => problem(m, labels(payments, 'bank-api'), 'unreadable') === 1 && sample(m, NOT_AFTER, labels(payments, 'bank-api')) === undefined)
  // A mesh-wide target's Secret: reported in whatever namespace it appears, gone with it.
  await putSecret(billing, meshSecret, { cert: renewed.cert, key: renewed.key, cacert: serverCa.cert })
  await until('mesh-wide Secret created', (m) => sample(m, NOT_AFTER, labels(billing, 'mesh', meshSecret)) === notAfterSeconds(renewed.cert))
  await kubeJson(kc, { method: 'DELETE', path: secrets(billing, meshSecret) })
  await until('mesh-wide Secret deleted', (m) => sample(m, NOT_AFTER, labels(billing, 'mesh', meshSecret)) === undefined && !m.includes('target="mesh"'))
  // Deleted: missing again, its validity gone.
  await kubeJson(kc, { method: 'DELETE', path: secrets(billing, 'tax-gw-mtls') })
  const deleted = await until('deleted', (m) => problem(m, labels(billing, 'tax-gw'), 'missing') === 1 && sample(m, NOT_AFTER, labels(billing, 'tax-gw')) === undefined)
  process.stdout.write(`# change to metric (incl. 100 ms scrape period): created ${created} ms, updated ${updated} ms, deleted ${deleted} ms\n`)
  assert.doesNotMatch(logs, /BEGIN|PRIVATE KEY/, 'no key material in the logs')
  assert.doesNotMatch(await scrape(metricsPort), /BEGIN|PRIVATE KEY/)

  child.kill('SIGTERM')
  const code = await new Promise<number | null>((resolve) => { child?.once('exit', (c) => { resolve(c) }) })
  assert.equal(code, 0, logs)
  child = undefined
})
