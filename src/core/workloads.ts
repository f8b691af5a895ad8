// The workload kinds egress-mtls injects (DESIGN.md "Who is injected") and where each keeps
// its pod template. Any version of the group: with `matchPolicy: Equivalent` the API server
// may send a version other than the one registered.
import type { GroupVersionKind } from './admission.ts'

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
  return Object.hasOwn(PATHS, `${kind.group}/${kind.kind}`) ? PATHS[`${kind.group}/${kind.kind}`] : undefined
}

/** `apps/v1` → group apps, version v1; `v1` → the core group. */
export function groupVersionKind (apiVersion: string, kind: string): GroupVersionKind {
  const slash = apiVersion.indexOf('/')
  return slash < 0
    ? { group: '', version: apiVersion, kind }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1), kind }
}
