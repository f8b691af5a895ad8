// The Helm chart, with a real helm and the end-to-end tier's real kube-apiserver:
// lint; template for every injection mode x routing; the rendered objects checked (RBAC
// exactly, selectors per mode, Pod Security "restricted", hooks); every object applied
// with server-side dry-run (field manager egress-mtls) in namespaces that enforce
// "restricted". Runs under test/e2e/global-setup.ts.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

import type { KubeConfig } from '@kubernetes/client-node'
import { parseAllDocuments, stringify } from 'yaml'

import { objectPath, render } from '../../src/core/istio/render.ts'
import { VERSION } from '../../src/version.ts'
import { HELM_ENV } from '../support/binaries.ts'
import { parsedConfig } from '../support/config.ts'
import { installIstioCrds } from '../support/crds.ts'
import { KUBECONFIG_ENV, kubeJson, kubeRequest, loadKubeConfig, serviceAccountKubeconfig } from '../support/kube.ts'
import { type FreshNamespace, freshNamespace } from '../support/namespaces.ts'
import { repoRoot } from '../support/repo.ts'
import { type Run, run } from '../support/run.ts'
import { runCli } from '../support/run-cli.ts'

const chartDir = join(repoRoot, 'charts', 'egress-mtls')
const release = 'egress-mtls'
const full = 'egress-mtls'

interface Meta {
  name: string,
  namespace?: string,
  labels?: Record<string, string>,
  annotations?: Record<string, string>,
  managedFields?: { manager: string }[],
}
interface Obj { apiVersion: string, kind: string, metadata: Meta, [k: string]: unknown }
interface Rule { apiGroups: string[], resources: string[], resourceNames?: string[], verbs: string[] }
interface Subject { kind: string, name: string, namespace?: string }
interface Probe { httpGet: { path: string, port: string } }
interface Container {
  name: string
  image: string
  args: string[]
  securityContext: Record<string, unknown>
  volumeMounts?: { name: string, mountPath: string }[]
  livenessProbe?: Probe
  readinessProbe?: Probe
  resources?: { requests?: Record<string, string>, limits?: Record<string, string> }
  env?: { name: string, value: string }[]
  ports?: unknown
}
interface PodSpec {
  serviceAccountName: string
  automountServiceAccountToken?: boolean
  securityContext: Record<string, unknown>
  containers: Container[]
  volumes?: Record<string, unknown>[]
  [k: string]: unknown
}
interface Selector { matchLabels?: Record<string, string>, matchExpressions?: { key: string, operator: string, values: string[] }[] }
interface Webhook {
  name: string
  clientConfig: { service: Record<string, unknown>, caBundle?: string }
  namespaceSelector: Selector
  objectSelector: Selector
  rules: Record<string, unknown>[]
  [k: string]: unknown
}

function helm (...args: string[]): Promise<Run> {
  const bin = process.env[HELM_ENV]
  assert.ok(bin !== undefined && bin !== '', `${HELM_ENV} is not set: run under --test-global-setup=test/e2e/global-setup.ts`)
  return run(bin, args, { cwd: repoRoot, env: { ...process.env, KUBECONFIG: process.env[KUBECONFIG_ENV] ?? '' } })
}

const PLURALS: Record<string, string> = {
  ServiceAccount: 'serviceaccounts',
  ConfigMap: 'configmaps',
  Service: 'services',
  Deployment: 'deployments',
  PodDisruptionBudget: 'poddisruptionbudgets',
  Job: 'jobs',
  CronJob: 'cronjobs',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  MutatingWebhookConfiguration: 'mutatingwebhookconfigurations',
  NetworkPolicy: 'networkpolicies',
  ServiceMonitor: 'servicemonitors',
  PrometheusRule: 'prometheusrules',
  Certificate: 'certificates',
  Issuer: 'issuers',
  ValidatingAdmissionPolicy: 'validatingadmissionpolicies',
  ValidatingAdmissionPolicyBinding: 'validatingadmissionpolicybindings',
}
/** What the chart renders with its default options. */
const DEFAULT_KINDS = ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CronJob', 'Deployment', 'Job', 'MutatingWebhookConfiguration', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']
/** The CRDs of the optional kinds, from their projects (test/fixtures, with their licences). */
const OPTIONAL_CRDS = [join(repoRoot, 'test', 'fixtures', 'cert-manager', 'crds-v1.21.2.yaml'), join(repoRoot, 'test', 'fixtures', 'prometheus-operator', 'servicemonitors-v0.85.0.yaml'), join(repoRoot, 'test', 'fixtures', 'prometheus-operator', 'prometheusrules-v0.85.0.yaml')]

/** The chart's container security context, by default. */
const CONTAINER_SECURITY = { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } }
const POD_SECURITY = { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } }

/** The REST path of an object (namespaced when it names a namespace). */
function pathOf (o: Obj): string {
  const plural = PLURALS[o.kind]
  assert.ok(plural !== undefined, `the chart renders a ${o.kind}: add it to PLURALS`)
  const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`
  const ns = o.metadata.namespace === undefined ? '' : `/namespaces/${o.metadata.namespace}`
  return `${base}${ns}/${plural}/${o.metadata.name}`
}

/** Server-side apply with dryRun=All: what the API server would store, and its warnings. */
async function dryRunApply (kc: KubeConfig, o: Obj): Promise<{ status: number, body: string, warnings: string }> {
  const r = await kubeRequest(kc, {
    method: 'PATCH',
    path: `${pathOf(o)}?dryRun=All&fieldManager=egress-mtls&force=true`,
    body: o,
    contentType: 'application/apply-patch+yaml',
  })
  const w = r.headers['warning']
  return { status: r.status, body: r.body, warnings: Array.isArray(w) ? w.join('\n') : (w ?? '') }
}

interface PodTemplate { metadata: Meta, spec: PodSpec }

function podTemplates (objs: readonly Obj[]): { where: string, template: PodTemplate }[] {
  const out: { where: string, template: PodTemplate }[] = []
  for (const o of objs) {
    const where = `${o.kind}/${o.metadata.name}`
    if (o.kind === 'Deployment' || o.kind === 'Job') out.push({ where, template: (o['spec'] as { template: PodTemplate }).template })
    if (o.kind === 'CronJob') out.push({ where, template: (o['spec'] as { jobTemplate: { spec: { template: PodTemplate } } }).jobTemplate.spec.template })
  }
  return out
}

const podSpecs = (objs: readonly Obj[]): { where: string, spec: PodSpec }[] => podTemplates(objs).map(({ where, template }) => ({ where, spec: template.spec }))

const byKind = (objs: readonly Obj[], kind: string): Obj[] => objs.filter((o) => o.kind === kind)

function one (objs: readonly Obj[], kind: string, name: string): Obj {
  const found = objs.filter((o) => o.kind === kind && o.metadata.name === name)
  assert.equal(found.length, 1, `${kind}/${name} rendered ${found.length} times`)
  return found[0]!
}

const HOOKS: Record<string, [string, string]> = {
  [`ServiceAccount/${full}-certs-hook`]: ['pre-install,pre-upgrade', '-10'],
  [`Role/${full}-certs-hook`]: ['pre-install,pre-upgrade', '-10'],
  [`RoleBinding/${full}-certs-hook`]: ['pre-install,pre-upgrade', '-10'],
  [`ClusterRole/${full}-certs-hook`]: ['pre-install,pre-upgrade', '-10'],
  [`ClusterRoleBinding/${full}-certs-hook`]: ['pre-install,pre-upgrade', '-10'],
  [`Job/${full}-certs-init`]: ['pre-install,pre-upgrade', '0'],
  [`Job/${full}-certs-ca-bundle`]: ['post-install,post-upgrade', '0'],
  [`Job/${full}-provision`]: ['post-install,post-upgrade', '10'],
  [`Job/${full}-provision-cleanup`]: ['pre-delete', '0'],
  [`Job/${full}-certs-cleanup`]: ['pre-delete', '0'],
}

describe('chart', () => {
  let kc: KubeConfig
  let kubeVersion = ''
  let work = ''
  const namespaces: FreshNamespace[] = []
  let releaseNs = ''
  let payments = ''
  let billing = ''
  let meshRoot = ''

  before(async () => {
    kc = loadKubeConfig()
    kubeVersion = ((await kubeJson(kc, { path: '/version' })) as { gitVersion: string }).gitVersion
    work = await mkdtemp(join(tmpdir(), 'egress-mtls-chart-'))
    for (const file of OPTIONAL_CRDS) await installIstioCrds(kc, file)
    const restricted = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted', 'pod-security.kubernetes.io/warn-version': 'latest' }
    for (const prefix of ['chart', 'chart-payments', 'chart-billing', 'chart-root']) namespaces.push(await freshNamespace(kc, prefix, restricted))
    ;[releaseNs, payments, billing, meshRoot] = namespaces.map((n) => n.name) as [string, string, string, string]
  })

  after(async () => {
    for (const ns of namespaces) await ns.cleanup()
    if (work !== '') await rm(work, { recursive: true, force: true })
  })

  async function valuesFile (values: unknown): Promise<string> {
    const file = join(work, `values-${randomBytes(4).toString('hex')}.yaml`)
    await writeFile(file, stringify(values))
    return file
  }

  const config = (injection: string, routing: string): Record<string, unknown> => ({
    injection,
    routing,
    meshRootNamespace: meshRoot,
    excludeNamespaces: ['legacy'],
    targets: [
      { name: 'bank-api', host: 'api.bank.example.com', namespaces: [payments] },
      { name: 'tax-gw', host: 'gw.tax.example.org', secretName: 'tax-gw-client', namespaces: [payments, billing], maxConnectionDuration: '1h' },
      { name: 'status', host: 'status.partner.example.net', namespaces: ['*'] },
    ],
  })

  async function template (...args: string[]): Promise<Obj[]> {
    const r = await helm('template', release, chartDir, '--namespace', releaseNs, '--kube-version', kubeVersion, ...args)
    assert.equal(r.code, 0, r.stderr)
    return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null)
  }

  test('helm lint passes, with the defaults and with every example values file', async () => {
    for (const extra of [[], ['-f', join(chartDir, 'examples', 'values-bank.yaml')]]) {
      const r = await helm('lint', chartDir, '--strict', '--kube-version', kubeVersion, ...extra)
      assert.equal(r.code, 0, `helm lint ${extra.join(' ')}:\n${r.stdout}${r.stderr}`)
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/)
    }
  })

  test('the example values render the write-up: one target bank-api for namespace payments', async () => {
    const objs = await template('-f', join(chartDir, 'examples', 'values-bank.yaml'))
    const cm = one(objs, 'ConfigMap', `${full}-config`)
    const cfg = parsedConfig((cm['data'] as Record<string, string>)['config.yaml']!, 'ConfigMap')
    assert.deepEqual(cfg.targets.map((t) => [t.name, t.host, t.namespaces]), [['bank-api', 'api.bank.example.com', ['payments']]])
    const role = one(objs, 'Role', `${full}-provision`)
    assert.equal(role.metadata.namespace, 'payments')
    assert.deepEqual(role['rules'], [
      { apiGroups: ['networking.istio.io'], resources: ['serviceentries', 'destinationrules', 'virtualservices', 'gateways'], verbs: ['create', 'patch'] },
      { apiGroups: ['security.istio.io'], resources: ['authorizationpolicies'], verbs: ['create', 'patch'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['bank-api-mtls'], verbs: ['get'] },
    ])
  })

  test('webhook.nodeOptions empty: no NODE_OPTIONS, Node sizes the heap itself', async () => {
    const objs = await template('--set', 'webhook.nodeOptions=')
    const pod = (one(objs, 'Deployment', `${full}-webhook`)['spec'] as { template: { spec: PodSpec } }).template.spec
    assert.equal(pod.containers[0]?.env, undefined)
  })

  test('a typo in a target fails helm template and helm lint, naming the field', async () => {
    const file = await valuesFile({ config: { targets: [{ name: 'bank-api', hots: 'api.bank.example.com', namespaces: ['payments'] }] } })
    const t = await helm('template', release, chartDir, '--kube-version', kubeVersion, '-f', file)
    assert.notEqual(t.code, 0)
    assert.match(t.stderr, /\/config\/targets\/0/)
    assert.match(t.stderr, /'hots'/)
    assert.match(t.stderr, /'host'/)
    const l = await helm('lint', chartDir, '--kube-version', kubeVersion, '-f', file)
    assert.notEqual(l.code, 0)
    assert.match(l.stdout + l.stderr, /'hots'/)
    const unknown = await helm('template', release, chartDir, '--kube-version', kubeVersion, '--set', 'webhook.replicas=3')
    assert.notEqual(unknown.code, 0)
    assert.match(unknown.stderr, /'replicas'/)
  })

  for (const injection of ['label', 'namespace', 'cluster']) {
    for (const routing of ['targetPort', 'virtualService']) {
      test(`injection ${injection}, routing ${routing}: rendered objects are right and the API server accepts every one`, async () => {
        const objs = await template('-f', await valuesFile({ config: config(injection, routing) }))
        const kinds = new Set(objs.map((o) => o.kind))
        assert.deepEqual([...kinds].sort(), DEFAULT_KINDS)

        // Labels and hooks.
        for (const o of objs) {
          const l = o.metadata.labels ?? {}
          for (const k of ['name', 'instance', 'version', 'component', 'part-of', 'managed-by']) assert.ok(l[`app.kubernetes.io/${k}`], `${o.kind}/${o.metadata.name} lacks app.kubernetes.io/${k}`)
          assert.match(l['helm.sh/chart'] ?? '', /^egress-mtls-\d/)
          const a = o.metadata.annotations ?? {}
          const hook = HOOKS[`${o.kind}/${o.metadata.name}`]
          if (hook === undefined) assert.equal(a['helm.sh/hook'], undefined, `${o.kind}/${o.metadata.name} is a hook`)
          else {
            assert.deepEqual([a['helm.sh/hook'], a['helm.sh/hook-weight'], a['helm.sh/hook-delete-policy']], [...hook, 'before-hook-creation,hook-succeeded'], `${o.kind}/${o.metadata.name}`)
          }
        }
        assert.equal(Object.keys(HOOKS).filter((k) => !objs.some((o) => `${o.kind}/${o.metadata.name}` === k)).length, 0)

        // The ConfigMap is a configuration the program accepts.
        const cfg = parsedConfig((one(objs, 'ConfigMap', `${full}-config`)['data'] as Record<string, string>)['config.yaml']!, 'ConfigMap')
        assert.equal(cfg.injection, injection)
        assert.equal(cfg.routing, routing)
        assert.equal(cfg.targets.length, 3)

        // The MutatingWebhookConfiguration.
        const mwc = one(objs, 'MutatingWebhookConfiguration', full)
        const webhooks = mwc['webhooks'] as Webhook[]
        assert.equal(webhooks.length, 1)
        const wh = webhooks[0]!
        assert.equal(wh.name, 'workloads.egress-mtls.io')
        assert.deepEqual(wh['admissionReviewVersions'], ['v1'])
        assert.equal(wh['sideEffects'], 'None')
        assert.equal(wh['matchPolicy'], 'Equivalent')
        assert.equal(wh['reinvocationPolicy'], 'Never')
        assert.equal(wh['timeoutSeconds'], 5)
        assert.equal(wh['failurePolicy'], injection === 'cluster' ? 'Ignore' : 'Fail')
        assert.deepEqual(wh.clientConfig, { service: { name: `${full}-webhook`, namespace: releaseNs, path: '/mutate', port: 443 } }, 'no caBundle: the certs Job sets it')
        assert.deepEqual(wh.rules, [
          { apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
          { apiGroups: ['batch'], apiVersions: ['v1'], resources: ['jobs', 'cronjobs'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
        ])
        const excluded = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', meshRoot, releaseNs, 'legacy'] }
        const optOut = { matchExpressions: [{ key: 'egress-mtls.io/inject', operator: 'NotIn', values: ['false'] }] }
        assert.deepEqual(wh.namespaceSelector, injection === 'namespace'
          ? { matchLabels: { 'egress-mtls.io/injection': 'enabled' }, matchExpressions: [excluded] }
          : { matchExpressions: [excluded] })
        assert.deepEqual(wh.objectSelector, injection === 'label' ? { matchLabels: { 'egress-mtls.io/inject': 'true' } } : optOut)

        // The webhook Deployment.
        const dep = one(objs, 'Deployment', `${full}-webhook`)
        const depSpec = dep['spec'] as { replicas: number, template: { spec: PodSpec } }
        assert.equal(depSpec.replicas, 2)
        const pod = depSpec.template.spec
        assert.equal(pod.serviceAccountName, `${full}-webhook`)
        assert.equal(pod.automountServiceAccountToken, false)
        // The shutdown delay, then serve's 25 s grace, within the kubelet's patience.
        assert.equal(pod['terminationGracePeriodSeconds'], 35)
        const c = pod.containers[0]
        assert.ok(c !== undefined && pod.containers.length === 1)
        assert.deepEqual(c.args, ['serve', '--listen', ':8443', '--metrics-listen', ':9090', '--shutdown-delay', '5s', '--tls-cert', '/tls/tls.crt', '--tls-key', '/tls/tls.key', '--config', '/config/config.yaml', '--log-level', 'info'])
        assert.deepEqual([c.livenessProbe?.httpGet, c.readinessProbe?.httpGet], [{ path: '/healthz', port: 'metrics' }, { path: '/readyz', port: 'metrics' }])
        assert.deepEqual(c.volumeMounts?.map((m) => [m.name, m.mountPath, 'subPath' in m]), [['tls', '/tls', false], ['config', '/config', false]])
        assert.deepEqual(pod.volumes, [
          { name: 'tls', secret: { secretName: `${full}-webhook-tls`, defaultMode: 0o440, items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] } },
          { name: 'config', configMap: { name: `${full}-config` } },
        ])
        assert.deepEqual((pod['topologySpreadConstraints'] as Record<string, unknown>[]).map((t) => [t['topologyKey'], t['whenUnsatisfiable']]), [['kubernetes.io/hostname', 'ScheduleAnyway']])
        assert.deepEqual(c.resources, { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } })
        // Under the 256Mi limit Node would pick 1 MiB semi-spaces (docs/development.md "Performance").
        assert.deepEqual(c.env, [{ name: 'NODE_OPTIONS', value: '--max-semi-space-size=8' }])
        assert.equal(dep.metadata.annotations?.['checksum/config'], undefined)
        assert.deepEqual((one(objs, 'PodDisruptionBudget', `${full}-webhook`)['spec'] as { minAvailable: number }).minAvailable, 1)
        assert.deepEqual((one(objs, 'Service', `${full}-webhook`)['spec'] as { ports: unknown }).ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }])
        assert.deepEqual((one(objs, 'Service', `${full}-webhook-metrics`)['spec'] as { ports: unknown }).ports, [{ name: 'metrics', port: 9090, targetPort: 'metrics', protocol: 'TCP' }])

        // The monitor: one replica, its own ServiceAccount with a token (its only rights: the
        // targets' Secrets by name, test/e2e/monitor.test.ts), restarted when the configuration changes.
        const monitor = one(objs, 'Deployment', `${full}-monitor`)
        const monitorSpec = monitor['spec'] as { replicas: number, template: PodTemplate }
        assert.equal(monitorSpec.replicas, 1)
        assert.equal(monitorSpec.template.spec.serviceAccountName, `${full}-monitor`)
        assert.equal(monitorSpec.template.spec.automountServiceAccountToken, true)
        assert.deepEqual(monitorSpec.template.spec.containers[0]?.args, ['monitor', '--config', '/config/config.yaml', '--metrics-listen', ':9090', '--log-level', 'info'])
        assert.match(monitorSpec.template.metadata.annotations?.['checksum/config'] ?? '', /^[0-9a-f]{64}$/)
        assert.deepEqual((one(objs, 'Service', `${full}-monitor-metrics`)['spec'] as { ports: unknown }).ports, [{ name: 'metrics', port: 9090, targetPort: 'metrics', protocol: 'TCP' }])

        // Pod Security "restricted" on every pod spec: the Deployments, the Jobs, the CronJobs;
        // and no Istio sidecar in any of them.
        const specs = podSpecs(objs)
        assert.equal(specs.length, 2 + 5 + 2)
        for (const { where, spec } of specs) {
          assert.deepEqual(spec.securityContext, POD_SECURITY, where)
          for (const ct of spec.containers) {
            assert.deepEqual(ct.securityContext, CONTAINER_SECURITY, where)
            assert.equal(ct.image, `egress-mtls:${VERSION}`, where)
          }
          assert.ok(!JSON.stringify(spec).includes('hostPath'), where)
          assert.equal(spec['hostNetwork'], undefined, where)
        }
        for (const { where, template } of podTemplates(objs)) {
          assert.equal(template.metadata.labels?.['sidecar.istio.io/inject'], 'false', where)
          assert.equal(template.metadata.annotations?.['sidecar.istio.io/inject'], 'false', where)
        }

        // The commands each Job runs, and as whom.
        const certsArgs = ['certs', '--namespace', releaseNs, '--service', `${full}-webhook`, '--secret', `${full}-webhook-tls`, '--webhook', full,
          '--ca-validity-days', '3650', '--leaf-validity-days', '365', '--renew-fraction', '0.3333333333333333']
        const provisionArgs = ['provision', '--config', '/config/config.yaml', '--instance', release, '--timeout', '120']
        const jobs = Object.fromEntries(specs.filter((s) => !s.where.startsWith('Deployment/')).map((s) => [s.where, [s.spec.serviceAccountName, s.spec.automountServiceAccountToken, s.spec.containers[0]?.args]]))
        assert.deepEqual(jobs, {
          [`Job/${full}-certs-init`]: [`${full}-certs-hook`, true, certsArgs],
          [`Job/${full}-certs-ca-bundle`]: [`${full}-certs`, true, certsArgs],
          [`CronJob/${full}-certs-renew`]: [`${full}-certs`, true, certsArgs],
          [`Job/${full}-provision`]: [`${full}-provision`, true, provisionArgs],
          [`CronJob/${full}-provision-sync`]: [`${full}-provision`, true, provisionArgs],
          [`Job/${full}-provision-cleanup`]: [`${full}-provision`, true, [...provisionArgs, '--prune-all']],
          [`Job/${full}-certs-cleanup`]: [`${full}-certs`, true, [...certsArgs, '--uninstall']],
        })

        // RBAC, exactly: each ServiceAccount's rules through its bindings.
        const roles = new Map([...byKind(objs, 'Role'), ...byKind(objs, 'ClusterRole')].map((r) => [`${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`, r['rules'] as Rule[]]))
        const grants = new Map<string, { scope: string, rules: Rule[] }[]>()
        for (const b of [...byKind(objs, 'RoleBinding'), ...byKind(objs, 'ClusterRoleBinding')]) {
          const ref = b['roleRef'] as { kind: string, name: string }
          const ns = ref.kind === 'Role' ? (b.metadata.namespace ?? '') : ''
          const rules = roles.get(`${ref.kind}/${ns}/${ref.name}`)
          assert.ok(rules !== undefined, `${b.kind}/${b.metadata.name} binds a ${ref.kind} the chart does not render`)
          for (const s of b['subjects'] as Subject[]) {
            assert.equal(s.kind, 'ServiceAccount')
            assert.equal(s.namespace, releaseNs)
            const list = grants.get(s.name) ?? []
            list.push({ scope: ref.kind === 'Role' ? ns : '(cluster)', rules })
            grants.set(s.name, list)
          }
        }
        const sorted = (g: { scope: string, rules: Rule[] }[] | undefined) => [...(g ?? [])].sort((a, b) => a.scope.localeCompare(b.scope))
        const certsGrants = (verbs: string[]) => [
          { scope: '(cluster)', rules: [{ apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [full], verbs: ['get', 'patch'] }] },
          { scope: releaseNs, rules: [
            { apiGroups: [''], resources: ['secrets'], resourceNames: [`${full}-webhook-tls`], verbs },
            { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
          ] },
        ]
        assert.deepEqual(new Set(byKind(objs, 'ServiceAccount').map((s) => s.metadata.name)), new Set([`${full}-webhook`, `${full}-certs`, `${full}-certs-hook`, `${full}-provision`, `${full}-monitor`]))
        assert.equal(grants.get(`${full}-webhook`), undefined, 'the webhook ServiceAccount is bound to nothing')
        assert.equal(one(objs, 'ServiceAccount', `${full}-webhook`)['automountServiceAccountToken'], false)
        assert.deepEqual(sorted(grants.get(`${full}-certs`)), sorted(certsGrants(['get', 'update', 'delete'])))
        assert.deepEqual(sorted(grants.get(`${full}-certs-hook`)), sorted(certsGrants(['get', 'update'])))
        // Writes per namespace of the configuration (the mesh root for the mesh-wide target);
        // cluster-wide only what pruning a dropped namespace needs.
        const networking = { apiGroups: ['networking.istio.io'], resources: ['serviceentries', 'destinationrules', 'virtualservices', 'gateways'] }
        const security = { apiGroups: ['security.istio.io'], resources: ['authorizationpolicies'] }
        const istio = (verbs: string[]): Rule[] => [{ ...networking, verbs }, { ...security, verbs }]
        assert.deepEqual(sorted(grants.get(`${full}-provision`)), sorted([
          // pruning a waypoint's Role, RoleBinding and Gateway too (none made here: no waypoint target)
          { scope: '(cluster)', rules: [...istio(['get', 'list', 'delete']), { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['get', 'list', 'delete'] }, { apiGroups: ['gateway.networking.k8s.io'], resources: ['gateways'], verbs: ['get', 'list', 'delete'] }] },
          { scope: payments, rules: [...istio(['create', 'patch']), { apiGroups: [''], resources: ['secrets'], resourceNames: ['bank-api-mtls', 'tax-gw-client'], verbs: ['get'] }] },
          { scope: billing, rules: [...istio(['create', 'patch']), { apiGroups: [''], resources: ['secrets'], resourceNames: ['tax-gw-client'], verbs: ['get'] }] },
          { scope: meshRoot, rules: istio(['create', 'patch']) },
        ]))
        // The monitor: get, list and watch of the targets' Secrets by name, and nothing else.
        const readSecrets = (names: string[]) => [{ apiGroups: [''], resources: ['secrets'], resourceNames: names, verbs: ['get', 'list', 'watch'] }]
        assert.deepEqual(sorted(grants.get(`${full}-monitor`)), sorted([
          { scope: '(cluster)', rules: readSecrets(['status-mtls']) },
          { scope: payments, rules: readSecrets(['bank-api-mtls', 'tax-gw-client']) },
          { scope: billing, rules: readSecrets(['tax-gw-client']) },
        ]))

        // The admission policies: who they bind and what they refuse (proven in least-privilege.test.ts).
        const vaps = byKind(objs, 'ValidatingAdmissionPolicy')
        assert.deepEqual(vaps.map((v) => v.metadata.name).sort(), [`${full}-certs`, `${full}-provision`])
        assert.deepEqual(byKind(objs, 'ValidatingAdmissionPolicyBinding').map((b) => [b.metadata.name, (b['spec'] as { policyName: string, validationActions: string[] }).policyName, (b['spec'] as { validationActions: string[] }).validationActions]).sort(),
          [[`${full}-certs`, `${full}-certs`, ['Deny']], [`${full}-provision`, `${full}-provision`, ['Deny']]])
        const conditions = (name: string): string[] => ((one(objs, 'ValidatingAdmissionPolicy', name)['spec'] as { matchConditions: { expression: string }[] }).matchConditions).map((c) => c.expression)
        assert.deepEqual(conditions(`${full}-provision`), [`request.userInfo.username == 'system:serviceaccount:${releaseNs}:${full}-provision'`])
        assert.deepEqual(conditions(`${full}-certs`), [`request.userInfo.username in ['system:serviceaccount:${releaseNs}:${full}-certs', 'system:serviceaccount:${releaseNs}:${full}-certs-hook']`])
        assert.equal(grants.size, 4)
        assert.ok(!JSON.stringify([...roles.values()]).includes('"*"'), 'no wildcard in any rule')

        // Every object, server-side dry-run, field manager egress-mtls.
        const rejected: string[] = []
        await Promise.all(objs.map(async (o) => {
          const r = await dryRunApply(kc, o)
          if (r.status < 200 || r.status > 299) rejected.push(`${o.kind}/${o.metadata.name}: HTTP ${r.status}: ${r.body}`)
          else if (r.warnings !== '') rejected.push(`${o.kind}/${o.metadata.name}: warning: ${r.warnings}`)
          else assert.equal((JSON.parse(r.body) as Obj).metadata.managedFields?.[0]?.manager, 'egress-mtls')
        }))
        assert.deepEqual(rejected, [])
      })
    }
  }

  test('the API server does warn about a pod template that is not "restricted" (the check above can fail)', async () => {
    const r = await dryRunApply(kc, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'not-restricted', namespace: releaseNs },
      spec: {
        selector: { matchLabels: { app: 'x' } },
        template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'x', image: 'x' }] } },
      },
    })
    assert.ok(r.status === 200 || r.status === 201, r.body)
    assert.match(r.warnings, /would violate PodSecurity \\"restricted:latest\\": allowPrivilegeEscalation/)
  })

  test('webhook values: failurePolicy override, one replica renders no PodDisruptionBudget, timeoutSeconds', async () => {
    const objs = await template('--set', 'webhook.failurePolicy=Ignore', '--set', 'webhook.replicaCount=1', '--set', 'webhook.timeoutSeconds=10', '--set', 'provision.cronJob.enabled=false')
    const wh = (one(objs, 'MutatingWebhookConfiguration', full)['webhooks'] as Webhook[])[0]!
    assert.equal(wh['failurePolicy'], 'Ignore')
    assert.equal(wh['timeoutSeconds'], 10)
    assert.equal(byKind(objs, 'PodDisruptionBudget').length, 0)
    assert.equal(byKind(objs, 'CronJob').length, 1)
    assert.equal(byKind(objs, 'Role').filter((r) => r.metadata.name === `${full}-provision`).length, 0, 'no targets, no Secret rights')
  })

  test('an upgrade keeps the caBundle the certs Job set (lookup of the live configuration)', async () => {
    const name = `keep-${randomBytes(3).toString('hex')}`
    const fullname = `${name}-egress-mtls`
    const caBundle = Buffer.from('-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n').toString('base64')
    // A live configuration as a previous release left it, made harmless: it selects nothing.
    const live = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: {
        name: fullname,
        labels: { 'app.kubernetes.io/managed-by': 'Helm' },
        annotations: { 'meta.helm.sh/release-name': name, 'meta.helm.sh/release-namespace': releaseNs },
      },
      webhooks: [{
        name: 'workloads.egress-mtls.io',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Ignore',
        clientConfig: { service: { name: `${fullname}-webhook`, namespace: releaseNs, path: '/mutate', port: 443 }, caBundle },
        namespaceSelector: { matchLabels: { 'egress-mtls.io/e2e-never': 'true' } },
        objectSelector: { matchLabels: { 'egress-mtls.io/e2e-never': 'true' } },
        rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'], operations: ['CREATE'] }],
      }],
    }
    await kubeJson(kc, { method: 'POST', path: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', body: live })
    try {
      const r = await helm('template', name, chartDir, '--namespace', releaseNs, '--dry-run=server', '--set', 'provision.cronJob.enabled=false')
      assert.equal(r.code, 0, r.stderr)
      const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null)
      const wh = (one(objs, 'MutatingWebhookConfiguration', fullname)['webhooks'] as Webhook[])[0]!
      assert.equal(wh.clientConfig.caBundle, caBundle)
    } finally {
      await kubeRequest(kc, { method: 'DELETE', path: `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${fullname}` })
    }
  })

  test('the chart\'s RBAC is enough for the real certs and provision commands, and no more', async () => {
    // A release of its own, its RBAC created for real; the commands run with the tokens of
    // the chart's ServiceAccounts. Nothing here changes what other tests own: certs writes
    // its own Secret and configuration, provision runs as --dry-run, writes are dry-run.
    const name = `rbac-${randomBytes(3).toString('hex')}`
    const fullname = `${name}-egress-mtls`
    const meshRoot = await freshNamespace(kc, 'chart-mesh-root')
    namespaces.push(meshRoot)
    const values = { config: { ...config('label', 'targetPort'), meshRootNamespace: meshRoot.name } }
    const r = await helm('template', name, chartDir, '--namespace', releaseNs, '--kube-version', kubeVersion, '-f', await valuesFile(values))
    assert.equal(r.code, 0, r.stderr)
    const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null)
    const rbacKinds = ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding']
    const created: Obj[] = []
    const apply = async (o: Obj): Promise<void> => {
      await kubeJson(kc, { method: 'PATCH', path: `${pathOf(o)}?fieldManager=egress-mtls-e2e&force=true`, body: o, contentType: 'application/apply-patch+yaml' })
      created.push(o)
    }
    try {
      for (const o of objs.filter((x) => rbacKinds.includes(x.kind))) await apply(o)
      const cluster = kc.getCurrentCluster()
      assert.ok(cluster !== null)
      const kubeconfigOf = (sa: string): Promise<string> => serviceAccountKubeconfig(kc, releaseNs, sa, work, 600)
      const as = async (sa: string): Promise<KubeConfig> => loadKubeConfig(await kubeconfigOf(sa))
      const secretPath = `/api/v1/namespaces/${releaseNs}/secrets/${fullname}-webhook-tls`
      const mwcPath = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${fullname}`
      const certs = async (sa: string) => runCli(['certs', '--kubeconfig', await kubeconfigOf(sa), '--namespace', releaseNs, '--service', `${fullname}-webhook`, '--secret', `${fullname}-webhook-tls`, '--webhook', fullname])

      // pre-install: no MutatingWebhookConfiguration yet; the hook's ServiceAccount makes the Secret.
      const pre = await certs(`${fullname}-certs-hook`)
      assert.equal(pre.code, 0, pre.stderr)
      assert.equal((await kubeRequest(kc, { path: secretPath })).status, 200)

      // Helm creates the configuration (here made to select nothing); post-install sets caBundle.
      const mwc = one(objs, 'MutatingWebhookConfiguration', fullname)
      const never = { matchLabels: { 'egress-mtls.io/e2e-never': 'true' } }
      await apply({ ...mwc, webhooks: (mwc['webhooks'] as Webhook[]).map((w) => ({ ...w, namespaceSelector: never, objectSelector: never })) })
      const post = await certs(`${fullname}-certs`)
      assert.equal(post.code, 0, post.stderr)
      const secret = (await kubeJson(kc, { path: secretPath })) as { data: Record<string, string> }
      const live = (await kubeJson(kc, { path: mwcPath })) as { webhooks: Webhook[] }
      const bundle = Buffer.from(live.webhooks[0]?.clientConfig.caBundle ?? '', 'base64').toString('utf8')
      assert.ok(bundle.includes(Buffer.from(secret.data['ca.crt'] ?? '', 'base64').toString('utf8').trim()), 'caBundle carries the CA of the Secret')

      // ... and no more: another Secret, listing Secrets, another configuration.
      const certsKc = await as(`${fullname}-certs`)
      for (const path of [`/api/v1/namespaces/${releaseNs}/secrets/other`, `/api/v1/namespaces/${releaseNs}/secrets`, '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/other']) {
        assert.equal((await kubeRequest(certsKc, { path })).status, 403, path)
      }

      // provision: the plan (lists across namespaces, Secret presence), then every write as dry-run.
      const configFile = join(work, `${name}-config.yaml`)
      await writeFile(configFile, stringify(values.config))
      const provisionKubeconfig = await kubeconfigOf(`${fullname}-provision`)
      const plan = await runCli(['provision', '--dry-run', '--config', configFile, '--kubeconfig', provisionKubeconfig, '--timeout', '10'])
      assert.equal(plan.code, 0, plan.stderr)
      assert.match(plan.stdout, /create/)
      assert.doesNotMatch(plan.stderr, /forbidden|cannot check/i)
      assert.match(plan.stderr, new RegExp(`Secret ${payments}/bank-api-mtls of target bank-api is missing`))
      const provisionKc = loadKubeConfig(provisionKubeconfig)
      const rendered = render(parsedConfig(stringify(values.config)))
      assert.ok(rendered.length > 0)
      for (const o of rendered) {
        const path = `${objectPath(o)}?dryRun=All&fieldManager=egress-mtls&force=true`
        const w = await kubeRequest(provisionKc, { method: 'PATCH', path, body: o, contentType: 'application/apply-patch+yaml' })
        assert.ok(w.status === 200 || w.status === 201, `apply ${o.kind} ${o.metadata.namespace}/${o.metadata.name}: HTTP ${w.status} ${w.body}`)
      }
      const [first] = rendered
      assert.ok(first !== undefined)
      const firstPath = `/apis/${first.apiVersion}/namespaces/${first.metadata.namespace}/serviceentries/${first.metadata.name}`
      assert.equal(first.kind, 'ServiceEntry')
      await kubeJson(kc, { method: 'PATCH', path: `${firstPath}?fieldManager=egress-mtls-e2e`, body: first, contentType: 'application/apply-patch+yaml' })
      try {
        assert.equal((await kubeRequest(provisionKc, { method: 'DELETE', path: `${firstPath}?dryRun=All` })).status, 200)
      } finally {
        await kubeRequest(kc, { method: 'DELETE', path: firstPath })
      }
      for (const path of [`/api/v1/namespaces/${billing}/secrets/bank-api-mtls`, `/api/v1/namespaces/${releaseNs}/secrets/${fullname}-webhook-tls`, `/api/v1/namespaces/${payments}/secrets`]) {
        assert.equal((await kubeRequest(provisionKc, { path })).status, 403, path)
      }

      // The webhook's ServiceAccount can do nothing at all.
      const webhookKc = await as(`${fullname}-webhook`)
      for (const path of [`/api/v1/namespaces/${releaseNs}/configmaps`, secretPath, mwcPath, '/apis/networking.istio.io/v1/serviceentries']) {
        assert.equal((await kubeRequest(webhookKc, { path })).status, 403, path)
      }
    } finally {
      for (const o of created.filter((x) => x.metadata.namespace === undefined)) await kubeRequest(kc, { method: 'DELETE', path: pathOf(o) })
    }
  })

  /** Server-side dry-run of every object; the failures and warnings, by object. */
  async function rejections (objs: readonly Obj[]): Promise<string[]> {
    const rejected: string[] = []
    await Promise.all(objs.map(async (o) => {
      const r = await dryRunApply(kc, o)
      if (r.status < 200 || r.status > 299) rejected.push(`${o.kind}/${o.metadata.name}: HTTP ${r.status}: ${r.body}`)
      else if (r.warnings !== '') rejected.push(`${o.kind}/${o.metadata.name}: warning: ${r.warnings}`)
    }))
    return rejected.sort()
  }

  test('helm package: the archive carries package.json\'s version as version and appVersion, and the image tag follows', async () => {
    const out = join(work, 'package')
    const r = await helm('package', chartDir, '--destination', out)
    assert.equal(r.code, 0, r.stderr)
    const archive = join(out, `egress-mtls-${VERSION}.tgz`)
    assert.match(r.stdout, new RegExp(archive.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    const show = await helm('show', 'chart', archive)
    assert.equal(show.code, 0, show.stderr)
    const chart = parseAllDocuments(show.stdout)[0]?.toJS() as { version: string, appVersion: string }
    assert.deepEqual([chart.version, chart.appVersion], [VERSION, VERSION])
    const lint = await helm('lint', archive, '--strict', '--kube-version', kubeVersion)
    assert.equal(lint.code, 0, lint.stdout + lint.stderr)
    const t = await helm('template', release, archive, '--namespace', releaseNs, '--kube-version', kubeVersion)
    assert.equal(t.code, 0, t.stderr)
    const objs = parseAllDocuments(t.stdout).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null)
    const images = new Set(podSpecs(objs).flatMap(({ spec }) => spec.containers.map((c) => c.image)))
    assert.deepEqual([...images], [`egress-mtls:${VERSION}`])
  })

  test('every pod option: registry, pull secrets, labels, env, args, placement, priority, security overrides; the API server accepts all under "restricted"', async () => {
    const values = {
      global: { imageRegistry: 'registry.example.com/mirror', imagePullSecrets: [{ name: 'global-pull' }] },
      imagePullSecrets: [{ name: 'chart-pull' }],
      commonLabels: { team: 'platform', 'app.kubernetes.io/instance': 'spoofed' },
      podLabels: { 'cost-centre': 'cc-1', 'sidecar.istio.io/inject': 'true', 'app.kubernetes.io/name': 'spoofed' },
      podAnnotations: { 'example.com/all': 'every-pod' },
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' }],
      affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'infra', operator: 'Exists' }] } }] } },
      priorityClassName: 'chart-wide',
      webhook: {
        priorityClassName: 'system-cluster-critical',
        nodeSelector: { role: 'webhook' },
        podLabels: { part: 'webhook' },
        extraArgs: ['--log-level', 'debug'],
        extraEnv: [{ name: 'TZ', value: 'UTC' }],
        containerSecurityContext: { readOnlyRootFilesystem: true, privileged: false },
      },
      certs: { extraEnv: [{ name: 'HTTPS_PROXY', value: 'http://proxy.example.com:3128' }], podSecurityContext: { runAsUser: 1000700000 } },
      provision: { extraArgs: ['--timeout', '60'], tolerations: [{ operator: 'Exists' }], affinity: { podAntiAffinity: {} } },
      metrics: { scrapeAnnotations: true, serviceMonitor: { enabled: true, labels: { release: 'prom' }, scrapeTimeout: '10s' } },
      networkPolicy: { enabled: true, webhookFrom: [{ ipBlock: { cidr: '10.0.0.0/8' } }] },
    }
    const file = await valuesFile(values)
    const lint = await helm('lint', chartDir, '--strict', '--kube-version', kubeVersion, '-f', file)
    assert.equal(lint.code, 0, lint.stdout + lint.stderr)
    const objs = await template('-f', file)
    const templates = podTemplates(objs)
    assert.equal(templates.length, 9)
    for (const { where, template } of templates) {
      const part = where.includes('webhook') ? 'webhook' : where.includes('monitor') ? 'monitor' : where.includes('certs') ? 'certs' : 'provision'
      const { spec, metadata } = template
      for (const c of spec.containers) assert.equal(c.image, `registry.example.com/mirror/egress-mtls:${VERSION}`, where)
      assert.deepEqual(spec['imagePullSecrets'], [{ name: 'global-pull' }, { name: 'chart-pull' }], where)
      // The chart's own labels win over podLabels: selectors and the sidecar opt-out hold.
      const labels = metadata.labels ?? {}
      const annotations = metadata.annotations ?? {}
      assert.equal(labels['sidecar.istio.io/inject'], 'false', where)
      assert.equal(labels['app.kubernetes.io/name'], 'egress-mtls', where)
      assert.equal(labels['cost-centre'], 'cc-1', where)
      assert.equal(labels['team'], 'platform', where)
      assert.equal(labels['part'], part === 'webhook' ? 'webhook' : undefined, where)
      assert.equal(annotations['example.com/all'], 'every-pod', where)
      assert.equal(annotations['prometheus.io/scrape'], part === 'webhook' || part === 'monitor' ? 'true' : undefined, where)
      assert.equal(spec['priorityClassName'], part === 'webhook' ? 'system-cluster-critical' : 'chart-wide', where)
      assert.deepEqual(spec['nodeSelector'], part === 'webhook' ? { role: 'webhook' } : { 'kubernetes.io/os': 'linux' }, where)
      assert.deepEqual(spec['tolerations'], part === 'provision' ? [{ operator: 'Exists' }] : values.tolerations, where)
      assert.deepEqual(spec['affinity'], part === 'provision' ? values.provision.affinity : values.affinity, where)
      assert.deepEqual(spec.securityContext, part === 'certs' ? { ...POD_SECURITY, runAsUser: 1000700000 } : POD_SECURITY, where)
      const c = spec.containers[0]!
      assert.deepEqual(c.securityContext, part === 'webhook' ? { ...CONTAINER_SECURITY, privileged: false } : CONTAINER_SECURITY, where)
      if (part === 'webhook') {
        assert.deepEqual(c.args.slice(-2), ['--log-level', 'debug'])
        assert.deepEqual(c.env, [{ name: 'NODE_OPTIONS', value: '--max-semi-space-size=8' }, { name: 'TZ', value: 'UTC' }])
        assert.deepEqual([annotations['prometheus.io/port'], annotations['prometheus.io/path']], ['9090', '/metrics'])
      } else if (part === 'monitor') {
        assert.deepEqual(c.args, ['monitor', '--config', '/config/config.yaml', '--metrics-listen', ':9090', '--log-level', 'info'])
        assert.equal(c.env, undefined, where)
        assert.deepEqual([annotations['prometheus.io/port'], annotations['prometheus.io/path']], ['9090', '/metrics'])
      } else if (part === 'certs') {
        assert.deepEqual(c.env, [{ name: 'HTTPS_PROXY', value: 'http://proxy.example.com:3128' }], where)
        assert.equal(c.args[0], 'certs')
      } else {
        assert.deepEqual(c.args, ['provision', '--config', '/config/config.yaml', '--instance', release, '--timeout', '120', ...(where.endsWith('cleanup') ? ['--prune-all'] : []), '--timeout', '60'], where)
        assert.equal(c.env, undefined, where)
      }
    }
    for (const o of objs) {
      assert.equal(o.metadata.labels?.['team'], 'platform', `${o.kind}/${o.metadata.name} lacks commonLabels`)
      assert.equal(o.metadata.labels['app.kubernetes.io/instance'], release, `${o.kind}/${o.metadata.name}: commonLabels replaced a label of the chart`)
    }

    const sm = one(objs, 'ServiceMonitor', `${full}-webhook`)
    assert.equal(sm.metadata.labels?.['release'], 'prom')
    const smSpec = sm['spec'] as { selector: Selector, endpoints: Record<string, unknown>[], namespaceSelector: unknown }
    assert.deepEqual(smSpec.endpoints, [{ port: 'metrics', path: '/metrics', scheme: 'http', interval: '30s', scrapeTimeout: '10s' }])
    assert.deepEqual(smSpec.namespaceSelector, { matchNames: [releaseNs] })
    // The ServiceMonitor selects the metrics Services (the webhook's and the monitor's), not the admission one.
    const services = byKind(objs, 'Service').filter((svc) => Object.entries(smSpec.selector.matchLabels ?? {}).every(([k, v]) => svc.metadata.labels?.[k] === v))
    assert.deepEqual(services.map((svc) => svc.metadata.name).sort(), [`${full}-monitor-metrics`, `${full}-webhook-metrics`])

    const np = one(objs, 'NetworkPolicy', `${full}-webhook`)
    assert.deepEqual(np['spec'], {
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'egress-mtls', 'app.kubernetes.io/instance': release, 'app.kubernetes.io/component': 'webhook' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        { ports: [{ port: 'https', protocol: 'TCP' }], from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] },
        { ports: [{ port: 'metrics', protocol: 'TCP' }] },
      ],
      egress: [],
    })
    assert.deepEqual(await rejections(objs), [])
  })

  test('OpenShift: null IDs leave the UID to the platform, and "restricted" still holds', async () => {
    const objs = await template('--set', 'podSecurityContext.runAsUser=null', '--set', 'podSecurityContext.runAsGroup=null', '--set', 'podSecurityContext.fsGroup=null')
    for (const { where, spec } of podSpecs(objs)) {
      assert.deepEqual(spec.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } }, where)
      for (const c of spec.containers) assert.deepEqual(c.securityContext, CONTAINER_SECURITY, where)
    }
    assert.deepEqual(await rejections(objs), [])
  })

  test('networkPolicy: the HTTPS port admits the API server\'s CIDRs and the peers given, never every pod unless asked; none given is an error', async () => {
    const policy = async (...args: string[]): Promise<{ from?: unknown[] }[]> =>
      (one(await template('--set', 'networkPolicy.enabled=true', ...args), 'NetworkPolicy', `${full}-webhook`)['spec'] as { ingress: { from?: unknown[] }[] }).ingress
    const [https, metrics] = await policy('--set', 'networkPolicy.apiServerCIDRs={10.0.0.0/24,172.16.0.0/28}', '--set', 'networkPolicy.webhookFrom[0].podSelector.matchLabels.app=konnectivity-agent')
    assert.deepEqual(https?.from, [{ ipBlock: { cidr: '10.0.0.0/24' } }, { ipBlock: { cidr: '172.16.0.0/28' } }, { podSelector: { matchLabels: { app: 'konnectivity-agent' } } }])
    assert.equal(metrics?.from, undefined)
    assert.equal((await policy('--set', 'networkPolicy.webhookFromAnywhere=true'))[0]?.from, undefined)
    const refused = await helm('template', release, chartDir, '--namespace', releaseNs, '--set', 'networkPolicy.enabled=true')
    assert.notEqual(refused.code, 0)
    assert.match(refused.stderr, /networkPolicy\.enabled: name the API server's addresses in networkPolicy\.apiServerCIDRs/)
    const badCidr = await helm('template', release, chartDir, '--namespace', releaseNs, '--set', 'networkPolicy.enabled=true', '--set', 'networkPolicy.apiServerCIDRs={kube-apiserver}')
    assert.match(badCidr.stderr, /apiServerCIDRs/)
  })

  test('webhook.hostNetwork: the node\'s network on the chosen ports; the API server says it is not "restricted"', async () => {
    const objs = await template('--set', 'webhook.hostNetwork=true', '--set', 'webhook.port=10260', '--set', 'webhook.metricsPort=10261', '--set', 'metrics.scrapeAnnotations=true', '--set', 'webhook.shutdownDelaySeconds=0')
    const dep = one(objs, 'Deployment', `${full}-webhook`)
    const pod = (dep['spec'] as { template: PodTemplate }).template
    assert.equal(pod.spec['hostNetwork'], true)
    assert.equal(pod.spec['dnsPolicy'], 'ClusterFirstWithHostNet')
    const c = pod.spec.containers[0]!
    assert.deepEqual(c.args.slice(0, 7), ['serve', '--listen', ':10260', '--metrics-listen', ':10261', '--shutdown-delay', '0s'])
    assert.equal(pod.spec['terminationGracePeriodSeconds'], 30)
    assert.deepEqual(c.ports, [{ name: 'https', containerPort: 10260, protocol: 'TCP' }, { name: 'metrics', containerPort: 10261, protocol: 'TCP' }])
    assert.equal(pod.metadata.annotations?.['prometheus.io/port'], '10261')
    // The Services still point at the named ports.
    assert.equal((one(objs, 'Service', `${full}-webhook`)['spec'] as { ports: { targetPort: string }[] }).ports[0]?.targetPort, 'https')
    for (const { spec } of podSpecs(objs).filter((p) => !p.where.startsWith('Deployment'))) assert.equal(spec['hostNetwork'], undefined)
    const r = await dryRunApply(kc, dep)
    assert.ok(r.status === 200 || r.status === 201, r.body)
    assert.match(r.warnings, /would violate PodSecurity \\"restricted:latest\\": host namespaces \(hostNetwork=true\)/)
  })

  test('certManager.enabled: a Certificate, a self-signed Issuer and the cainjector annotation instead of the certs Jobs; cert-manager\'s CRDs accept them', async () => {
    const lint = await helm('lint', chartDir, '--strict', '--kube-version', kubeVersion, '--set', 'certManager.enabled=true', '--set', 'webhook.hostNetwork=true', '--set', 'networkPolicy.enabled=true', '--set', 'networkPolicy.webhookFromAnywhere=true')
    assert.equal(lint.code, 0, lint.stdout + lint.stderr)
    const objs = await template('--set', 'certManager.enabled=true')
    const names = objs.map((o) => `${o.kind}/${o.metadata.name}`)
    for (const gone of [`Job/${full}-certs-init`, `Job/${full}-certs-ca-bundle`, `Job/${full}-certs-cleanup`, `CronJob/${full}-certs-renew`, `ServiceAccount/${full}-certs`, `ServiceAccount/${full}-certs-hook`, `ClusterRole/${full}-certs`, `Role/${full}-certs-hook`, `ValidatingAdmissionPolicy/${full}-certs`]) {
      assert.ok(!names.includes(gone), `${gone} is rendered with certManager.enabled`)
    }
    const svc = `${full}-webhook`
    const cert = one(objs, 'Certificate', `${full}-webhook`)
    assert.deepEqual(cert['spec'], {
      secretName: `${full}-webhook-tls`,
      secretTemplate: { labels: cert.metadata.labels },
      commonName: `${svc}.${releaseNs}.svc`,
      dnsNames: [svc, `${svc}.${releaseNs}`, `${svc}.${releaseNs}.svc`, `${svc}.${releaseNs}.svc.cluster.local`],
      duration: '8760h',
      renewBefore: '720h',
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      usages: ['digital signature', 'server auth'],
      issuerRef: { group: 'cert-manager.io', kind: 'Issuer', name: `${full}-selfsigned` },
    })
    assert.deepEqual(one(objs, 'Issuer', `${full}-selfsigned`)['spec'], { selfSigned: {} })
    const mwc = one(objs, 'MutatingWebhookConfiguration', full)
    assert.equal(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${releaseNs}/${full}-webhook`)
    // The webhook mounts the Secret cert-manager writes, under the same name and keys.
    const pod = (one(objs, 'Deployment', svc)['spec'] as { template: PodTemplate }).template.spec
    assert.deepEqual((pod.volumes?.[0] as { secret: { secretName: string } }).secret.secretName, `${full}-webhook-tls`)
    assert.deepEqual(await rejections(objs), [])

    const own = await template('--set', 'certManager.enabled=true', '--set', 'certManager.issuerRef.kind=ClusterIssuer', '--set', 'certManager.issuerRef.name=corp-ca')
    assert.equal(byKind(own, 'Issuer').length, 0)
    assert.deepEqual((one(own, 'Certificate', `${full}-webhook`)['spec'] as { issuerRef: unknown }).issuerRef, { group: 'cert-manager.io', kind: 'ClusterIssuer', name: 'corp-ca' })
    const bad = await helm('template', release, chartDir, '--set', 'certManager.issuerRef.kind=ClusterIssuer')
    assert.notEqual(bad.code, 0, 'an issuerRef without a name is refused')
  })

  test('monitor: the PrometheusRule carries the thresholds and the operator\'s CRD accepts it; monitor.enabled=false renders no monitor', async () => {
    const file = await valuesFile({ config: config('label', 'targetPort'), monitor: { prometheusRule: { enabled: true, warningDays: 21, criticalDays: 3, for: '5m', labels: { release: 'prom' } } } })
    const lint = await helm('lint', chartDir, '--strict', '--kube-version', kubeVersion, '-f', file)
    assert.equal(lint.code, 0, lint.stdout + lint.stderr)
    const objs = await template('-f', file)
    const rule = one(objs, 'PrometheusRule', `${full}-monitor`)
    assert.equal(rule.metadata.labels?.['release'], 'prom')
    const rules = (rule['spec'] as { groups: { rules: { alert: string, expr: string, for?: string, labels: { severity: string } }[] }[] }).groups[0]!.rules
    const left = '(egress_mtls_client_certificate_not_after_timestamp_seconds - time())'
    assert.deepEqual(rules.map((r) => [r.alert, r.expr, r.for, r.labels.severity]), [
      ['EgressMtlsClientCertificateExpiringSoon', `${left} < 21 * 86400 and ${left} >= 3 * 86400`, '5m', 'warning'],
      ['EgressMtlsClientCertificateExpiringVerySoon', `${left} < 3 * 86400 and ${left} > 0`, '5m', 'critical'],
      ['EgressMtlsClientCertificateExpired', 'egress_mtls_client_secret_problem{reason="expired"} == 1', undefined, 'critical'],
      ['EgressMtlsClientSecretProblem', 'egress_mtls_client_secret_problem{reason!="expired"} == 1', '5m', 'critical'],
      ['EgressMtlsClientCaCertificateExpiringSoon', '(egress_mtls_client_ca_certificate_not_after_timestamp_seconds - time()) < 21 * 86400', '5m', 'warning'],
    ])
    assert.deepEqual(await rejections(objs), [])
    assert.equal(byKind(await template('-f', await valuesFile({ config: config('label', 'targetPort') })), 'PrometheusRule').length, 0, 'off by default')

    const off = await template('-f', await valuesFile({ config: config('label', 'targetPort'), monitor: { enabled: false, prometheusRule: { enabled: true } } }))
    assert.deepEqual(off.filter((o) => o.metadata.name.includes('monitor')).map((o) => `${o.kind}/${o.metadata.name}`), [])
  })

  test('the schema refuses what the templates cannot honour', async () => {
    for (const [flag, field] of [
      ['webhook.port=0', 'port'], ['webhook.extraArgs[0]=1', 'extraArgs'], ['metrics.serviceMonitor.interval=soon', 'interval'],
      ['networkPolicy.enable=true', 'enable'], ['global.imageRegistry=a b', 'imageRegistry'], ['certs.extraEnv[0].value=x', 'name'],
    ] as const) {
      const r = await helm('template', release, chartDir, flag.startsWith('webhook.extraArgs') ? '--set-json' : '--set', flag.startsWith('webhook.extraArgs') ? 'webhook.extraArgs=[1]' : flag)
      assert.notEqual(r.code, 0, flag)
      assert.match(r.stderr, new RegExp(field), flag)
    }
  })
})
