// The workload kinds egress-mtls injects (docs/design.md "Who is injected"), where each keeps
// its pod template, and the AdmissionRequest `inject` and `doctor` make of an object. Any
// version of the group: with `matchPolicy: Equivalent` the API server may send a version
// other than the one registered.
import { isRecord } from '../base/json.ts'
import type { AdmissionRequest, GroupVersionKind } from './admission-review.ts'

const TEMPLATE = ['spec', 'template'] as const
const JOB_TEMPLATE = ['spec', 'jobTemplate', 'spec', 'template'] as const

export interface WorkloadKind {
  /** Where the pod template is. */
  readonly templatePath: readonly string[]
  /** Whether an UPDATE may change the pod template (else it is injected on CREATE only). */
  readonly templateMutable: boolean
}

// What an UPDATE may change, per kind (kube-apiserver's validation, Kubernetes 1.34). The
// mutation writes only labels and annotations of the pod template's metadata, so what
// matters is whether the API server accepts a changed pod template on UPDATE:
// - Deployment, DaemonSet, ReplicaSet: spec.selector is immutable, spec.template is not
//   (the template's labels must still match the selector: egress-mtls's labels never make
//   them stop matching, unless a selector asks for an egress-mtls.io/<target> label).
// - StatefulSet: only replicas, ordinals, template, updateStrategy, revisionHistoryLimit,
//   persistentVolumeClaimRetentionPolicy and minReadySeconds may change; the template may.
// - CronJob: spec.jobTemplate may change (it applies to the Jobs created next).
// - Job: spec.template is immutable once created ("field is immutable"; only a suspended Job
//   that never started may change some template fields). An UPDATE of a Job (a label
//   added, the garbage collector removing a finalizer during foreground deletion) must
//   never carry a template patch, or it fails and the Job can be neither relabelled nor
//   deleted cleanly: Jobs are injected on CREATE only, suspended or not (admit.ts).
const KINDS: Readonly<Record<string, WorkloadKind>> = {
  'apps/Deployment': { templatePath: TEMPLATE, templateMutable: true },
  'apps/StatefulSet': { templatePath: TEMPLATE, templateMutable: true },
  'apps/DaemonSet': { templatePath: TEMPLATE, templateMutable: true },
  'apps/ReplicaSet': { templatePath: TEMPLATE, templateMutable: true },
  'batch/Job': { templatePath: TEMPLATE, templateMutable: false },
  'batch/CronJob': { templatePath: JOB_TEMPLATE, templateMutable: true },
}

/** How egress-mtls injects this kind; undefined for kinds not injected. */
export function workloadKind (kind: Pick<GroupVersionKind, 'group' | 'kind'>): WorkloadKind | undefined {
  const key = `${kind.group}/${kind.kind}`
  return Object.hasOwn(KINDS, key) ? KINDS[key] : undefined
}

/** Workload apiVersions Kubernetes has removed (the API server refuses them), when, and what replaces them. */
const REMOVED: Readonly<Record<string, { readonly kinds: readonly string[], readonly in: string, readonly use: string }>> = {
  'extensions/v1beta1': { kinds: ['Deployment', 'DaemonSet', 'ReplicaSet'], in: '1.16', use: 'apps/v1' },
  'apps/v1beta1': { kinds: ['Deployment', 'StatefulSet'], in: '1.16', use: 'apps/v1' },
  'apps/v1beta2': { kinds: ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'], in: '1.16', use: 'apps/v1' },
  'batch/v2alpha1': { kinds: ['CronJob'], in: '1.21', use: 'batch/v1' },
  'batch/v1beta1': { kinds: ['CronJob'], in: '1.25', use: 'batch/v1' },
}

/**
 * What `inject` says of a workload manifest in an apiVersion Kubernetes removed: the webhook
 * never sees one (the API server refuses it), but an old chart or a copied manifest has them.
 */
export function removedApiVersion (object: KubeObject): string | undefined {
  const removed = Object.hasOwn(REMOVED, object.apiVersion) ? REMOVED[object.apiVersion] : undefined
  if (removed?.kinds.includes(object.kind) !== true) return undefined
  const injected = workloadKind(groupVersionKind(object.apiVersion, object.kind)) !== undefined
  return `apiVersion ${object.apiVersion} was removed in Kubernetes ${removed.in}: the API server refuses this ${object.kind}; ` +
    `change it to ${removed.use}${injected ? ' (injected as that)' : ' (not injected: egress-mtls reads it as an unknown kind)'}`
}

/** What the path (a kind's templatePath) leads to in the object; undefined where a step is not an object. */
export function podTemplateAt (object: unknown, templatePath: readonly string[]): unknown {
  let node = object
  for (const field of templatePath) node = isRecord(node) ? node[field] : undefined
  return node
}

/** `apps/v1` → group apps, version v1; `v1` → the core group. */
export function groupVersionKind (apiVersion: string, kind: string): GroupVersionKind {
  const slash = apiVersion.indexOf('/')
  return slash < 0
    ? { group: '', version: apiVersion, kind }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1), kind }
}

/**
 * A ReplicaSet a Deployment controls: its pod template is the Deployment's, and the
 * deployment controller finds it by comparing the two. Changing it here would make the
 * controller create a new ReplicaSet, which would be changed again, and so on: the
 * Deployment is where egress-mtls injects.
 */
export function controlledByDeployment (kind: string, ownerReferences: unknown): boolean {
  return kind === 'ReplicaSet' && Array.isArray(ownerReferences) &&
    ownerReferences.some((o: unknown) => isRecord(o) && o['controller'] === true && o['kind'] === 'Deployment')
}

/** An object as manifests and the API hold it: an apiVersion and a kind. */
export interface KubeObject { readonly apiVersion: string, readonly kind: string, readonly metadata?: unknown }

export function isKubeObject (value: unknown): value is KubeObject & Readonly<Record<string, unknown>> {
  return isRecord(value) && typeof value['apiVersion'] === 'string' && typeof value['kind'] === 'string'
}

/**
 * The AdmissionRequest the API server would send about the object: how `inject` (a CREATE of
 * a manifest's object) and `doctor` (an UPDATE of a live one) ask admit().
 */
export function syntheticRequest (
  object: KubeObject,
  uid: string,
  operation: 'CREATE' | 'UPDATE',
  namespace: string,
): AdmissionRequest & { readonly name: string } {
  const name = isRecord(object.metadata) && typeof object.metadata['name'] === 'string' ? object.metadata['name'] : ''
  return { uid, kind: groupVersionKind(object.apiVersion, object.kind), namespace, name, operation, object }
}
