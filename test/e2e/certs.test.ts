// `egress-mtls certs` against a real kube-apiserver: the Secret and the caBundle of a real
// MutatingWebhookConfiguration; nothing written when current; repairs; the webhook serving
// that certificate to the API server's own Go TLS client; renewals and CA rollovers while
// objects are being admitted, without one failed admission.
//
// The webhooks are registered by Service reference, as the chart registers them, so that
// the API server checks the certificate against the name it really uses, SVC.NS.svc (a URL
// to 127.0.0.1 would need an IP SAN, which the serving certificate must not have). Without
// aggregator routing, kube-apiserver calls a Service reference at https://CLUSTER-IP:PORT and
// verifies the certificate against ServerName SVC.NS.svc. So this file starts its own
// control plane with a loopback Service range (the shared one's is 10.0.0.0/24), gives the
// Service a fixed ClusterIP in it and its port, and the webhook listens on exactly that
// address and port (Linux routes all of 127.0.0.0/8 to lo): no traffic leaves loopback.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'

import { certsClient, isConflict } from '../../src/kube/certs-client.ts'
import { ensureBinaries } from '../support/binaries.ts'
import { type ControlPlane, startControlPlane } from '../support/control-plane.ts'
import { kubeJson, kubeRequest, loadKubeConfig } from '../support/kube.ts'
import { projectVolume } from '../support/kubelet-volume.ts'
import { type FreshNamespace, freshNamespace } from '../support/namespaces.ts'
import { freePort } from '../support/ports.ts'
import { cliMain, repoRoot } from '../support/repo.ts'
import { type Run, run as runCommand } from '../support/run.ts'

const SERVICE = 'egress-mtls'
const SECRET = 'egress-mtls-webhook-tls'
const WEBHOOKS = ['a.certs.egress-mtls.io', 'b.certs.egress-mtls.io']
/** The control plane's Service range, on loopback, and the Service's ClusterIP in it. */
const SERVICE_RANGE = '127.1.0.0/24'
const CLUSTER_IP = '127.1.0.10'

interface SecretObject {
  type?: string
  data?: Record<string, string>
  metadata: { resourceVersion: string }
}

interface WebhookConfigObject {
  metadata: { resourceVersion: string }
  webhooks: { name: string, clientConfig: { caBundle?: string } }[]
}

interface DeploymentObject {
  spec: { template: { metadata?: { annotations?: Record<string, string> } } }
}

const text = (b64: string | undefined): string => Buffer.from(b64 ?? '', 'base64').toString('utf8')
const fingerprints = (pem: string): string[] =>
  (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p).fingerprint256)

function node (args: string[]): ChildProcess {
  return spawn(process.execPath, [cliMain, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
}

const run = (args: string[]): Promise<Run> => runCommand(process.execPath, [cliMain, ...args], { cwd: repoRoot })

interface Serve {
  child: ChildProcess
  lines: Record<string, unknown>[]
  waitFor: (match: (l: Record<string, unknown>) => boolean, timeoutMs?: number) => Promise<Record<string, unknown>>
}

function serve (args: string[]): Serve {
  const child = node(['serve', ...args])
  const lines: Record<string, unknown>[] = []
  let buffer = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    buffer += c
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i)
      buffer = buffer.slice(i + 1)
      try { lines.push(JSON.parse(line) as Record<string, unknown>) } catch { lines.push({ msg: line }) }
    }
  })
  child.stderr?.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  return {
    child,
    lines,
    async waitFor (match, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = lines.find(match)
        if (found !== undefined) return found
        if (child.exitCode !== null) throw new Error(`serve exited (${String(child.exitCode)}): ${stderr}\n${JSON.stringify(lines)}`)
        if (Date.now() > deadline) throw new Error(`no such log line of serve in ${String(timeoutMs)} ms:\n${lines.map((l) => JSON.stringify(l)).join('\n')}\n${stderr}`)
        await sleep(50)
      }
    },
  }
}

describe('egress-mtls certs against a real API server', () => {
  let cp: ControlPlane | undefined
  let kc: KubeConfig
  let ns: FreshNamespace | undefined
  let webhookConfig = ''
  let nsName = ''
  let kubeconfig = ''
  let port: number
  let work = ''
  let server: Serve | undefined
  let certsArgs: string[]

  const secretPath = (): string => `/api/v1/namespaces/${nsName}/secrets/${SECRET}`
  const configPath = (): string => `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${webhookConfig}`
  const readSecret = async (): Promise<SecretObject> => await kubeJson(kc, { path: secretPath() }) as SecretObject
  const readConfig = async (): Promise<WebhookConfigObject> => await kubeJson(kc, { path: configPath() }) as WebhookConfigObject
  const certs = (...extra: string[]): Promise<Run> => run([...certsArgs, ...extra])

  /** The Secret as kubelet would project it into the webhook's pods. */
  async function projectSecret (): Promise<string> {
    const data = (await readSecret()).data ?? {}
    projectVolume(join(work, 'tls'), { 'tls.crt': text(data['tls.crt']), 'tls.key': text(data['tls.key']), 'ca.crt': text(data['ca.crt']) })
    return new X509Certificate(text(data['tls.crt'])).fingerprint256
  }

  async function createDeployment (name: string): Promise<{ status: number, body: string }> {
    return kubeRequest(kc, {
      method: 'POST',
      path: `/apis/apps/v1/namespaces/${nsName}/deployments`,
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, labels: { 'egress-mtls.io/inject': 'true' } },
        spec: {
          selector: { matchLabels: { app: name } },
          template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'example.com/app:1' }] } },
        },
      },
    })
  }

  /**
   * A kubeconfig of ServiceAccount `certs` allowed exactly: get/update on the one Secret,
   * create on Secrets (RBAC cannot restrict create by name), get/patch on the one
   * MutatingWebhookConfiguration.
   */
  async function leastPrivilegeKubeconfig (plane: ControlPlane): Promise<string> {
    const post = (path: string, body: unknown): Promise<unknown> => kubeJson(kc, { method: 'POST', path, body })
    const rbac = '/apis/rbac.authorization.k8s.io/v1'
    const subjects = [{ kind: 'ServiceAccount', name: 'certs', namespace: nsName }]
    await post(`/api/v1/namespaces/${nsName}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'certs' } })
    await post(`${rbac}/namespaces/${nsName}/roles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'certs' },
      rules: [
        { apiGroups: [''], resources: ['secrets'], resourceNames: [SECRET], verbs: ['get', 'update'] },
        { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      ],
    })
    await post(`${rbac}/namespaces/${nsName}/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'certs' }, subjects,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'certs' },
    })
    await post(`${rbac}/clusterroles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: webhookConfig },
      rules: [{ apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [webhookConfig], verbs: ['get', 'patch'] }],
    })
    await post(`${rbac}/clusterrolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: webhookConfig }, subjects,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: webhookConfig },
    })
    const token = await post(`/api/v1/namespaces/${nsName}/serviceaccounts/certs/token`, {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 },
    }) as { status: { token: string } }
    const file = join(work, 'certs-kubeconfig')
    writeFileSync(file, JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { server: plane.server, 'certificate-authority-data': Buffer.from(plane.pki.caCert).toString('base64') } }],
      users: [{ name: 'certs', user: { token: token.status.token } }],
      contexts: [{ name: 'certs', context: { cluster: 'e2e', user: 'certs', namespace: nsName } }],
      'current-context': 'certs',
    }), { mode: 0o600 })
    // RBAC is in force: the ServiceAccount cannot read another Secret.
    const other = await kubeRequest(loadKubeConfig(file), { path: `/api/v1/namespaces/${nsName}/secrets/other` })
    assert.equal(other.status, 403, other.body)
    return file
  }

  before(async () => {
    // A later --service-cluster-ip-range overrides the harness's default.
    const plane = await startControlPlane({ binaries: await ensureBinaries({ helm: false }), apiserverFlags: [`--service-cluster-ip-range=${SERVICE_RANGE}`] })
    cp = plane
    kc = loadKubeConfig(plane.kubeconfigPath)
    port = await freePort()
    work = mkdtempSync(join(tmpdir(), 'egress-mtls-certs-e2e-'))
    const namespace = await freshNamespace(kc, 'certs')
    ns = namespace
    nsName = namespace.name
    kubeconfig = plane.kubeconfigPath
    webhookConfig = `egress-mtls-certs-e2e-${namespace.name}`
    await kubeJson(kc, {
      method: 'POST',
      path: `/api/v1/namespaces/${nsName}/services`,
      body: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: SERVICE },
        spec: { clusterIP: CLUSTER_IP, ports: [{ name: 'https', port, targetPort: port }] },
      },
    })
    await kubeJson(kc, {
      method: 'POST',
      path: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
      body: {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingWebhookConfiguration',
        metadata: { name: webhookConfig },
        webhooks: WEBHOOKS.map((name) => ({
          name,
          clientConfig: { service: { namespace: nsName, name: SERVICE, path: '/mutate', port } },
          rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'], operations: ['CREATE', 'UPDATE'] }],
          // Only this test's namespace: nothing else is sent to a webhook that is not there.
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': nsName } },
          failurePolicy: 'Fail',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 10,
        })),
      },
    })
    // The certs runs below use a ServiceAccount with exactly the RBAC the chart grants.
    certsArgs = ['certs', '--kubeconfig', await leastPrivilegeKubeconfig(plane), '--namespace', nsName, '--service', SERVICE, '--secret', SECRET, '--webhook', webhookConfig]
    writeFileSync(join(work, 'config.yaml'), `injection: label\ntargets:\n  - name: bank-api\n    host: api.bank.example.com\n    namespaces: [${nsName}]\n`)
  })

  after(async () => {
    // Cluster-scoped: never leave it behind (failurePolicy Fail).
    if (webhookConfig !== '') {
      await kubeRequest(kc, { method: 'DELETE', path: configPath() }).catch(() => undefined)
      for (const kind of ['clusterrolebindings', 'clusterroles']) {
        await kubeRequest(kc, { method: 'DELETE', path: `/apis/rbac.authorization.k8s.io/v1/${kind}/${webhookConfig}` }).catch(() => undefined)
      }
    }
    const child = server?.child
    if (child?.exitCode === null) {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
    await ns?.cleanup().catch(() => undefined)
    await cp?.stop()
    if (work !== '') rmSync(work, { recursive: true, force: true })
  })

  test('bad usage is refused before anything is read or written (exit 2)', async () => {
    const r = await certs('--ca-validity-days', '100', '--leaf-validity-days', '365')
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /--ca-validity-days 100 must be more than --leaf-validity-days 365/)
    assert.equal((await kubeRequest(kc, { path: secretPath() })).status, 404)
  })

  test('first run (as a ServiceAccount with only the chart\'s RBAC): a CA and a leaf in a kubernetes.io/tls Secret, the caBundle on every webhook', async () => {
    const r = await certs()
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^certs: new CA 'CN=egress-mtls webhook CA [^']+' \(until \d{4}-\d\d-\d\d\): the Secret does not exist$/m)
    assert.match(r.stdout, new RegExp(`^certs: caBundle set on ${WEBHOOKS.join(', ')} of MutatingWebhookConfiguration ${webhookConfig} \\(1 CA\\(s\\); resourceVersion \\d+\\)$`, 'm'))
    assert.match(r.stdout, new RegExp(`^certs: Secret ${nsName}/${SECRET} created`, 'm'))
    assert.ok(r.stdout.indexOf('caBundle set') < r.stdout.indexOf('created'), 'the bundle is written before the Secret')
    assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY|MII/, 'no key material in the log')

    const secret = await readSecret()
    assert.equal(secret.type, 'kubernetes.io/tls')
    assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'])
    const leaf = new X509Certificate(text(secret.data?.['tls.crt']))
    const ca = new X509Certificate(text(secret.data?.['ca.crt']))
    assert.ok(leaf.verify(ca.publicKey))
    assert.equal(leaf.subjectAltName, `DNS:${SERVICE}, DNS:${SERVICE}.${nsName}, DNS:${SERVICE}.${nsName}.svc, DNS:${SERVICE}.${nsName}.svc.cluster.local`)
    const config = await readConfig()
    assert.deepEqual(config.webhooks.map((w) => w.name), WEBHOOKS)
    for (const w of config.webhooks) assert.equal(text(w.clientConfig.caBundle), text(secret.data?.['ca.crt']), w.name)
  })

  test('a second run writes nothing: same resourceVersions', async () => {
    const [secret, config] = [await readSecret(), await readConfig()]
    const r = await certs()
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^certs: all current, nothing written: the serving certificate is valid until \d{4}-\d\d-\d\d and is renewed from \d{4}-\d\d-\d\d; the CA is valid until \d{4}-\d\d-\d\d$/m)
    assert.equal((await readSecret()).metadata.resourceVersion, secret.metadata.resourceVersion)
    assert.equal((await readConfig()).metadata.resourceVersion, config.metadata.resourceVersion)
  })

  test('the webhook serves that certificate and the API server (Go TLS, ServerName SVC.NS.svc) accepts it', async () => {
    const fp = await projectSecret()
    server = serve([
      '--tls-cert', join(work, 'tls', 'tls.crt'), '--tls-key', join(work, 'tls', 'tls.key'),
      '--listen', `${CLUSTER_IP}:${String(port)}`, '--metrics-listen', '127.0.0.1:0', '--config', join(work, 'config.yaml'),
    ])
    await server.waitFor((l) => l['msg'] === 'listening')
    assert.ok(server.lines.some((l) => l['msg'] === 'serving certificate loaded' && l['sha256'] === fp))
    const r = await createDeployment('first')
    assert.equal(r.status, 201, r.body)
    const annotations = (JSON.parse(r.body) as DeploymentObject).spec.template.metadata?.annotations ?? {}
    assert.equal(annotations['egress-mtls.io/injected'], 'bank-api', r.body)
    assert.match(annotations['sidecar.istio.io/userVolume'] ?? '', /egress-mtls-bank-api/)
  })

  test('hand edits are repaired: caBundles emptied or junk (from ca.crt), then ca.crt junk (from the caBundle)', async () => {
    const config = await readConfig()
    const bundle = text(config.webhooks[0]?.clientConfig.caBundle)
    const leafBefore = (await readSecret()).data?.['tls.crt']
    await kubeJson(kc, {
      method: 'PATCH',
      path: configPath(),
      contentType: 'application/json-patch+json',
      body: [
        { op: 'remove', path: '/webhooks/0/clientConfig/caBundle' },
        { op: 'replace', path: '/webhooks/1/clientConfig/caBundle', value: Buffer.from('junk').toString('base64') },
      ],
    })
    const secretRv = (await readSecret()).metadata.resourceVersion
    const r1 = await certs()
    assert.equal(r1.code, 0, r1.stderr)
    assert.match(r1.stdout, new RegExp(`^certs: repair: the caBundle of webhook ${WEBHOOKS[0] ?? ''} is empty$`, 'm'))
    assert.match(r1.stdout, new RegExp(`^certs: repair: the caBundle of webhook ${WEBHOOKS[1] ?? ''} holds no PEM certificate$`, 'm'))
    assert.doesNotMatch(r1.stdout, /new (CA|serving certificate)/)
    assert.equal((await readSecret()).metadata.resourceVersion, secretRv, 'the Secret is not written')
    for (const w of (await readConfig()).webhooks) assert.equal(text(w.clientConfig.caBundle), bundle)

    await kubeJson(kc, { method: 'PATCH', path: secretPath(), contentType: 'application/merge-patch+json', body: { data: { 'ca.crt': Buffer.from('junk').toString('base64') } } })
    const configRv = (await readConfig()).metadata.resourceVersion
    const r2 = await certs()
    assert.equal(r2.code, 0, r2.stderr)
    assert.match(r2.stdout, /^certs: repair: ca\.crt holds no PEM certificate$/m)
    assert.doesNotMatch(r2.stdout, /new (CA|serving certificate)|caBundle set/)
    const secret = await readSecret()
    assert.equal(secret.data?.['tls.crt'], leafBefore, 'the leaf is kept')
    assert.equal(text(secret.data?.['ca.crt']), bundle)
    assert.equal((await readConfig()).metadata.resourceVersion, configRv, 'the configuration is not written')
    assert.match((await certs()).stdout, /all current, nothing written/)
    // The webhook, still serving the same leaf, is trusted again.
    const created = await createDeployment('after-repair')
    assert.equal(created.status, 201, created.body)
  })

  test('the caBundle patch is refused (409) when the configuration changed since it was read', async () => {
    const client = certsClient(kc, { namespace: nsName, secret: SECRET, webhook: webhookConfig })
    const stored = await client.read()
    assert.ok(stored.webhooks !== undefined)
    await kubeJson(kc, { method: 'PATCH', path: configPath(), contentType: 'application/merge-patch+json', body: { metadata: { annotations: { touched: 'yes' } } } })
    await assert.rejects(client.setCaBundle(stored.webhooks, WEBHOOKS, 'x'), (err) => isConflict(err))
    const secretStored = await client.read()
    await kubeJson(kc, { method: 'PATCH', path: secretPath(), contentType: 'application/merge-patch+json', body: { metadata: { annotations: { touched: 'yes' } } } })
    await assert.rejects(client.writeSecret(secretStored.secret, { 'tls.crt': 'x' }), (err) => isConflict(err))
  })

  test('a caBundle patch that fails leaves the Secret as it was (exit 1), and the webhook trusted', async () => {
    const role = `/apis/rbac.authorization.k8s.io/v1/clusterroles/${webhookConfig}`
    const rules = (verbs: string[]): unknown => ({ rules: [{ apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [webhookConfig], verbs }] })
    const before = await readSecret()
    await kubeJson(kc, { method: 'PATCH', path: role, contentType: 'application/merge-patch+json', body: rules(['get']) })
    try {
      // The authorizer's cache follows RBAC writes a moment later: wait until it says no.
      for (let allowed = true; allowed;) {
        const review = await kubeJson(kc, {
          method: 'POST',
          path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              user: `system:serviceaccount:${nsName}:certs`,
              resourceAttributes: { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', name: webhookConfig, verb: 'patch' },
            },
          },
        }) as { status: { allowed: boolean } }
        allowed = review.status.allowed
        if (allowed) await sleep(50)
      }
      // A CA rollover is due (less CA left than the leaf asked for), but patch is not allowed.
      const r = await certs('--ca-validity-days', '5000', '--leaf-validity-days', '4000')
      assert.equal(r.code, 1, r.stderr)
      assert.match(r.stderr, /cannot patch resource "mutatingwebhookconfigurations"/)
      assert.match(r.stdout, /new CA/)
      assert.equal((await readSecret()).metadata.resourceVersion, before.metadata.resourceVersion, 'the Secret is not switched to a leaf the API server would not trust')
      const created = await createDeployment('after-failed-patch')
      assert.equal(created.status, 201, created.body)
    } finally {
      await kubeJson(kc, { method: 'PATCH', path: role, contentType: 'application/merge-patch+json', body: rules(['get', 'patch']) })
    }
  })

  test('renewals and CA rollovers while the webhook serves: no failed admission', async () => {
    assert.ok(server !== undefined, 'the webhook runs (previous test)')
    const running = server
    let stop = false
    let created = 0
    const failures: string[] = []
    // Two clients creating Deployments all along; each must be admitted and mutated.
    const load = async (worker: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const r = await createDeployment(`load-${String(worker)}-${String(i)}`)
        const injected = r.status === 201 ? (JSON.parse(r.body) as DeploymentObject).spec.template.metadata?.annotations?.['egress-mtls.io/injected'] : undefined
        if (injected === 'bank-api') created++
        else failures.push(`HTTP ${String(r.status)}: ${r.body.slice(0, 600)}`)
      }
    }
    const workers = [load(1), load(2)]
    const caOf = async (): Promise<string[]> => fingerprints(text((await readSecret()).data?.['ca.crt']))
    const bundles = async (): Promise<string[][]> => (await readConfig()).webhooks.map((w) => fingerprints(text(w.clientConfig.caBundle)))

    /** The CA (of the Secret's ca.crt) that signed the Secret's leaf. */
    const issuerOfStoredLeaf = async (): Promise<string> => {
      const data = (await readSecret()).data ?? {}
      const leaf = new X509Certificate(text(data['tls.crt']))
      const pems = text(data['ca.crt']).match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []
      const issuer = pems.map((p) => new X509Certificate(p)).find((c) => leaf.verify(c.publicKey))
      assert.ok(issuer !== undefined, 'the stored leaf chains to a CA of ca.crt')
      return issuer.fingerprint256
    }

    // kubelet at its fastest: the Secret is projected into the webhook's volume as soon as it
    // changes, while certs is still running. Only the order of the writes (caBundle first)
    // keeps the API server from meeting a leaf it does not trust yet.
    const watch = { on: true }
    const kubelet = (async () => {
      let seen = ''
      while (watch.on) {
        const secret = await readSecret()
        if (secret.metadata.resourceVersion !== seen) {
          seen = secret.metadata.resourceVersion
          const data = secret.data ?? {}
          projectVolume(join(work, 'tls'), { 'tls.crt': text(data['tls.crt']), 'tls.key': text(data['tls.key']), 'ca.crt': text(data['ca.crt']) })
        }
        await sleep(20)
      }
    })()

    /** One run of certs; the volume follows; the server reloads. */
    const step = async (expect: RegExp, ...extra: string[]): Promise<void> => {
      const servedIssuer = await issuerOfStoredLeaf()
      const r = await certs(...extra)
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, expect)
      // Every bundle trusts both the leaf served until now and the new one.
      const newIssuer = await issuerOfStoredLeaf()
      for (const b of await bundles()) assert.ok(b.includes(servedIssuer) && b.includes(newIssuer))
      const fp = new X509Certificate(text((await readSecret()).data?.['tls.crt'])).fingerprint256
      await running.waitFor((l) => l['msg'] === 'serving certificate reloaded' && l['sha256'] === fp)
      await sleep(1500)
    }
    const junkKey = { 'tls.key': Buffer.from('junk').toString('base64') }

    try {
      await sleep(1500)
      const ca1 = (await caOf())[0]
      // A new leaf from the same CA (the stored key made unusable by hand: deterministic,
      // where waiting for two thirds of a validity is not).
      await kubeJson(kc, { method: 'PATCH', path: secretPath(), contentType: 'application/merge-patch+json', body: { data: junkKey } })
      await step(/^certs: new serving certificate .*: tls\.key is not a PEM private key$/m)
      assert.deepEqual(await caOf(), [ca1])
      // A CA rollover: the CA has less time left than a new leaf would need.
      await step(/^certs: new CA .*less than a new leaf's 4000\.0$/m, '--ca-validity-days', '5000', '--leaf-validity-days', '4000')
      const ca2 = (await caOf())[0]
      assert.deepEqual(await caOf(), [ca2, ca1])
      for (const b of await bundles()) assert.deepEqual(b, [ca2, ca1])
      // The new CA's leaf replaced in its turn: the old CA leaves the bundle.
      await kubeJson(kc, { method: 'PATCH', path: secretPath(), contentType: 'application/merge-patch+json', body: { data: junkKey } })
      await step(/^certs: dropped the previous CA .* no certificate it signed is served any more$/m, '--ca-validity-days', '5000', '--leaf-validity-days', '4000')
      for (const b of await bundles()) assert.deepEqual(b, [ca2])
      // ca.key lost (a hand edit): a new CA, the CA of the leaf being served carried.
      await kubeJson(kc, { method: 'PATCH', path: secretPath(), contentType: 'application/json-patch+json', body: [{ op: 'remove', path: '/data/ca.key' }] })
      await step(/^certs: new CA .*: ca\.key is missing$/m, '--ca-validity-days', '5000', '--leaf-validity-days', '4000')
      const ca3 = (await caOf())[0]
      for (const b of await bundles()) assert.deepEqual(b, [ca3, ca2])
    } finally {
      stop = true
      watch.on = false
      await Promise.all([...workers, kubelet])
    }
    assert.deepEqual(failures, [])
    assert.ok(created >= 20, `only ${String(created)} Deployments were admitted during the renewals`)
    process.stderr.write(`[certs e2e] ${String(created)} Deployments admitted and mutated across 4 renewals, none failed\n`)
  })

  test('without the MutatingWebhookConfiguration: the Secret is made, a warning, exit 0', async () => {
    const other = `${SECRET}-alone`
    const r = await run(['certs', '--kubeconfig', kubeconfig, '--namespace', nsName, '--service', SERVICE, '--secret', other, '--webhook', `${webhookConfig}-missing`])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /does not exist \(yet\): only the Secret is made/)
    assert.equal((await kubeRequest(kc, { path: `/api/v1/namespaces/${nsName}/secrets/${other}` })).status, 200)
  })
})
