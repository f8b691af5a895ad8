// The workload kinds egress-mtls injects (docs/design.md "Who is injected") and where each keeps
// its pod template. Any version of the group: with `matchPolicy: Equivalent` the API server
// may send a version other than the one registered.
import type { GroupVersionKind } from './admission.ts'
import { isRecord } from './json.ts'

const TEMPLATE = ['spec', 'template'] as const
const JOB_TEMPLATE = ['spec', 'jobTemplate', 'spec', 'template'] as const

const PATHS: Readonly<Record<string, readonly string[]>> = {
  'apps/Deployment': TEMPLATE,
  'apps/StatefulSet': TEMPLATE,
  'apps/DaemonSet': TEMPLATE,
  'apps/ReplicaSet': TEMPLATE,
  'batch/Job': TEMPLATE,
  'batch/CronJob': JOB_TEMPLATE,
}

/** The path of the pod template in an object of this kind; undefined for kinds not injected. */
export function podTemplatePath (kind: Pick<GroupVersionKind, 'group' | 'kind'>): readonly string[] | undefined {
  const key = `${kind.group}/${kind.kind}`
  return Object.hasOwn(PATHS, key) ? PATHS[key] : undefined
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
