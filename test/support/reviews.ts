// Realistic AdmissionReviews, as kube-apiserver sends them to the webhook, and the
// configuration they are judged against. Used by the benchmark and the integration tests.
import { createHash, randomUUID } from 'node:crypto'

/** The configuration of the benchmark: three targets, two of them in `payments`. */
export const BENCH_CONFIG = `# egress-mtls benchmark configuration
injection: label
mountRoot: /etc/egress-mtls
annotationFormat: map
routing: targetPort
workloadSelector: true
meshRootNamespace: istio-system
targets:
  - name: bank-api
    host: api.bank.example.com
    port: 443
    plainPort: 80
    namespaces: [payments]
  - name: tax-gw
    host: gw.tax.example.org
    secretName: tax-gw-client
    secretKeys: { cert: tls.crt, key: tls.key, cacert: ca.crt }
    namespaces: [payments, billing]
    maxConnectionDuration: 1h
  - name: audit-sink
    host: audit.corp.example.net
    namespaces: ["*"]
`

export const NAMESPACE = 'payments'
const INJECT_LABEL = 'egress-mtls.io/inject'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type JsonObject = Record<string, Json>

/** Deterministic filler text: hex of a hash chain, so runs are comparable. */
function filler (seed: string, length: number): string {
  let out = ''
  let h = seed
  while (out.length < length) {
    h = createHash('sha256').update(h).digest('hex')
    out += h
  }
  return out.slice(0, length)
}

interface DeploymentSpec {
  readonly name: string
  readonly labelled: boolean
  readonly image: string
  readonly replicas: number
  readonly envCount: number
  readonly envValueLength?: number
  readonly extraAnnotations?: Readonly<Record<string, string>>
}

function env (spec: DeploymentSpec): Json[] {
  const out: Json[] = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
    { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: `${spec.name}-db`, key: 'password' } } },
    { name: 'BANK_API_URL', value: 'http://api.bank.example.com' },
    { name: 'TAX_GW_URL', value: 'http://gw.tax.example.org' },
  ]
  for (let i = 0; out.length < spec.envCount; i++) {
    out.push({ name: `FEATURE_${i}_SETTING`, value: filler(`${spec.name}-env-${i}`, spec.envValueLength ?? 24) })
  }
  return out
}

/** The manifest a user applies: what kubectl stores in last-applied-configuration. */
function manifest (spec: DeploymentSpec): JsonObject {
  const appLabels: JsonObject = { app: spec.name, 'app.kubernetes.io/part-of': 'payments-platform' }
  const labels: JsonObject = { ...appLabels, team: 'payments', tier: 'backend', ...(spec.labelled ? { [INJECT_LABEL]: 'true' } : {}) }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: spec.name,
      namespace: NAMESPACE,
      labels,
      ...(spec.extraAnnotations === undefined ? {} : { annotations: { ...spec.extraAnnotations } }),
    },
    spec: {
      replicas: spec.replicas,
      revisionHistoryLimit: 5,
      selector: { matchLabels: { app: spec.name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: { ...appLabels, version: spec.image.split(':')[1] ?? 'latest' },
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': '9102',
            'sidecar.istio.io/proxyCPU': '100m',
            // A user's own sidecar volume (map form): egress-mtls must keep it.
            'sidecar.istio.io/userVolume': JSON.stringify({ 'ledger-ca': { configMap: { name: 'ledger-ca' } } }),
            'sidecar.istio.io/userVolumeMount': JSON.stringify({ 'ledger-ca': { mountPath: '/etc/ledger-ca', readOnly: true } }),
          },
        },
        spec: {
          serviceAccountName: spec.name,
          terminationGracePeriodSeconds: 45,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: spec.name } } }],
          containers: [
            {
              name: 'app',
              image: spec.image,
              imagePullPolicy: 'IfNotPresent',
              args: ['--listen=:8080', '--metrics=:9102', '--log-format=json'],
              ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9102, protocol: 'TCP' }],
              env: env(spec),
              resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 3 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 6, initialDelaySeconds: 10 },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'config', mountPath: '/etc/app', readOnly: true }, { name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: `${spec.name}-config`, defaultMode: 420 } },
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          ],
        },
      },
    },
  }
}

/** fieldsV1 of a manager that owns every field of `value` (what the API server records). */
function fieldsV1 (value: Json): Json {
  if (Array.isArray(value)) {
    const out: JsonObject = {}
    value.forEach((item, i) => {
      const key = typeof item === 'object' && item !== null && !Array.isArray(item) && typeof item['name'] === 'string'
        ? `k:${JSON.stringify({ name: item['name'] })}`
        : `i:${i}`
      out[key] = { '.': {}, ...(fieldsV1(item) as JsonObject) }
    })
    return out
  }
  if (typeof value === 'object' && value !== null) {
    const out: JsonObject = {}
    for (const [k, v] of Object.entries(value)) out[`f:${k}`] = typeof v === 'object' && v !== null ? fieldsV1(v) : {}
    return out
  }
  return {}
}

/** The stored object: the manifest plus what the API server and controllers add. */
function stored (spec: DeploymentSpec, m: JsonObject, lastApplied: boolean, generation: number): JsonObject {
  const meta = m['metadata'] as JsonObject
  const annotations: JsonObject = { ...(meta['annotations'] as JsonObject | undefined), 'deployment.kubernetes.io/revision': String(generation) }
  if (lastApplied) annotations['kubectl.kubernetes.io/last-applied-configuration'] = `${JSON.stringify(m)}\n`
  const specFields = m['spec'] ?? {}
  return {
    ...m,
    metadata: {
      ...meta,
      annotations,
      uid: '6c1f3b0e-9a4f-4f0e-8a51-3a2d7c9e5b11',
      resourceVersion: String(48_213_907 + generation),
      generation,
      creationTimestamp: '2025-11-03T09:12:44Z',
      managedFields: [
        {
          manager: lastApplied ? 'kubectl-client-side-apply' : 'ci-deployer',
          operation: lastApplied ? 'Update' : 'Apply',
          apiVersion: 'apps/v1',
          time: '2026-01-20T14:03:11Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': { 'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} }, 'f:labels': fieldsV1(meta['labels'] ?? {}) }, 'f:spec': fieldsV1(specFields) },
        },
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'apps/v1',
          time: '2026-01-20T14:03:40Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:deployment.kubernetes.io/revision': {} } }, 'f:status': { 'f:availableReplicas': {}, 'f:conditions': { '.': {}, 'k:{"type":"Available"}': {}, 'k:{"type":"Progressing"}': {} }, 'f:observedGeneration': {}, 'f:readyReplicas': {}, 'f:replicas': {}, 'f:updatedReplicas': {} } },
          subresource: 'status',
        },
      ],
    },
    status: {
      observedGeneration: generation,
      replicas: spec.replicas,
      updatedReplicas: spec.replicas,
      readyReplicas: spec.replicas,
      availableReplicas: spec.replicas,
      conditions: [
        { type: 'Available', status: 'True', lastUpdateTime: '2026-01-20T14:03:40Z', lastTransitionTime: '2025-11-03T09:13:30Z', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
        { type: 'Progressing', status: 'True', lastUpdateTime: '2026-01-20T14:03:40Z', lastTransitionTime: '2025-11-03T09:12:44Z', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${spec.name}-7d9f8c6b5d" has successfully progressed.` },
      ],
    },
  }
}

function review (operation: 'CREATE' | 'UPDATE', name: string, object: JsonObject, oldObject: JsonObject | null, fieldManager: string): JsonObject {
  const gvk = { group: 'apps', version: 'v1', kind: 'Deployment' }
  const gvr = { group: 'apps', version: 'v1', resource: 'deployments' }
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: gvk,
      resource: gvr,
      requestKind: gvk,
      requestResource: gvr,
      name,
      namespace: NAMESPACE,
      operation,
      userInfo: { username: 'alice@example.com', uid: 'oidc:7f3c', groups: ['payments-devs', 'system:authenticated'], extra: { 'authentication.kubernetes.io/credential-id': ['JTI=5b0f8e2c'] } },
      object,
      oldObject,
      dryRun: false,
      options: { kind: operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager },
    },
  }
}

/**
 * (a) `kubectl apply` of a labelled Deployment that changes its image: UPDATE with
 * oldObject, managedFields and the last-applied-configuration annotation, about 18 KB.
 * The label was added in this apply, so the webhook injects.
 */
export function labelledUpdate (name = 'ledger'): JsonObject {
  const base = { name, replicas: 3, envCount: 5 }
  const before: DeploymentSpec = { ...base, labelled: false, image: 'registry.example.com/payments/ledger:1.41.0' }
  const after: DeploymentSpec = { ...base, labelled: true, image: 'registry.example.com/payments/ledger:1.42.0' }
  return review('UPDATE', name, stored(after, manifest(after), true, 18), stored(before, manifest(before), true, 17), 'kubectl-client-side-apply')
}

/** (b) CREATE of an unlabelled Deployment: label mode skips it. */
export function unlabelledCreate (name = 'statements'): JsonObject {
  const spec: DeploymentSpec = { name, replicas: 2, envCount: 12, labelled: false, image: 'registry.example.com/payments/statements:2.0.3' }
  const m = manifest(spec)
  return review('CREATE', name, { ...m, metadata: { ...(m['metadata'] as JsonObject), creationTimestamp: null } }, null, 'kubectl-client-side-apply')
}

/**
 * (c) CREATE of a labelled Deployment near `bytes` long (default 1,000,000): a large
 * rendered-configuration annotation (annotations are capped at 256 KiB in total) and
 * hundreds of inline environment variables carrying configuration data.
 */
export function bigCreate (bytes = 1_000_000, name = 'risk-engine'): JsonObject {
  const annotations = { 'config.example.com/rendered': filler(`${name}-rendered`, 240 * 1024) }
  const valueLength = 1800
  const make = (envCount: number): JsonObject => {
    const spec: DeploymentSpec = { name, replicas: 6, envCount, envValueLength: valueLength, labelled: true, image: 'registry.example.com/payments/risk-engine:9.1.0', extraAnnotations: annotations }
    return review('CREATE', name, stored(spec, manifest(spec), false, 1), null, 'ci-deployer')
  }
  const small = JSON.stringify(make(5)).length
  const perVar = JSON.stringify(make(6)).length - small
  return make(5 + Math.max(0, Math.floor((bytes - small) / perVar)))
}

export interface Scenario {
  readonly id: string
  readonly title: string
  /** Bodies of the same shape with distinct uids, sent in turn. */
  readonly bodies: readonly string[]
  /** The result this review must get once admit() is implemented. */
  readonly expect: 'injected' | 'skipped'
}

/** The three requests of the benchmark, each in `variants` copies with distinct uids. */
export function scenarios (variants = 8): Scenario[] {
  const copies = (make: () => JsonObject): string[] => Array.from({ length: variants }, () => JSON.stringify(make()))
  return [
    { id: 'a', title: 'UPDATE labelled Deployment (oldObject, managedFields, last-applied)', bodies: copies(() => labelledUpdate()), expect: 'injected' },
    { id: 'b', title: 'CREATE unlabelled Deployment (skipped)', bodies: copies(() => unlabelledCreate()), expect: 'skipped' },
    { id: 'c', title: 'CREATE labelled Deployment near 1 MB', bodies: copies(() => bigCreate()), expect: 'injected' },
  ]
}

/**
 * Hostile reviews (issue 11): CREATE of a labelled Deployment whose pod template (or own
 * metadata) carries one annotation of about `bytes` bytes that egress-mtls reads. The API
 * server runs mutating admission before it checks its 256 KiB limit on annotations, so a
 * tenant can send values this big; the body stays under the webhook's body limit (6 MiB + 64 KiB).
 * - `deep-array`: sidecar.istio.io/userVolume `[[[…]]]`, nested bytes/2 levels deep;
 * - `deep-object`: sidecar.istio.io/userVolumeMount `{"a":{"a":…}}`;
 * - `targets`: egress-mtls.io/targets on the Deployment, a list of bytes/2 names;
 * - `injected`: egress-mtls.io/injected, a list of bytes/2 names;
 * - `deep-small`: a userVolume just under 256 KiB, nested 100,000 levels deep.
 */
export type Hostile = 'deep-array' | 'deep-object' | 'targets' | 'injected' | 'deep-small'

export function hostileCreate (kind: Hostile, bytes = 2_900_000, name = 'hostile'): JsonObject {
  const spec: DeploymentSpec = { name, replicas: 1, envCount: 5, labelled: true, image: 'registry.example.com/payments/hostile:1.0.0' }
  const m = manifest(spec)
  const meta = m['metadata'] as JsonObject
  const template = (m['spec'] as JsonObject)['template'] as JsonObject
  const annotations = (template['metadata'] as JsonObject)['annotations'] as JsonObject
  const half = Math.floor(bytes / 2)
  switch (kind) {
    case 'deep-array': annotations['sidecar.istio.io/userVolume'] = '['.repeat(half) + ']'.repeat(half); break
    case 'deep-object': annotations['sidecar.istio.io/userVolumeMount'] = '{"a":'.repeat(Math.floor(bytes / 6)) + '{}' + '}'.repeat(Math.floor(bytes / 6)); break
    case 'targets': meta['annotations'] = { 'egress-mtls.io/targets': 'a,'.repeat(half) }; break
    case 'injected': annotations['egress-mtls.io/injected'] = 'a,'.repeat(half); break
    case 'deep-small': annotations['sidecar.istio.io/userVolume'] = '['.repeat(100_000) + ']'.repeat(100_000); break
  }
  return review('CREATE', name, { ...m, metadata: { ...meta, creationTimestamp: null } }, null, 'kubectl-client-side-apply')
}
