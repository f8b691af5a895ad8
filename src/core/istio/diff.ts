// What an update changes, as a unified diff (like `kubectl diff`): the object's labels and
// spec (a Role's rules, a RoleBinding's subjects and roleRef) as YAML with sorted keys, live
// first, then what provision leaves. Pure.
import { structuredPatch } from 'diff'
import { stringify } from 'yaml'

import { managedBody, type PlanEntry } from './plan.ts'

const yaml = (v: unknown): string => stringify(v, { sortMapEntries: true, lineWidth: 0 })

/**
 * The diff of an update or adoption; '' for the other actions. Labels after the change are
 * the live ones with ours set (server-side apply leaves other labels alone).
 */
export function entryDiff (e: PlanEntry): string {
  if ((e.action !== 'update' && e.action !== 'adopt') || e.desired === undefined || e.live === undefined) return ''
  const labels = e.live.metadata.labels ?? {}
  const rbac = e.kind === 'Role' || e.kind === 'RoleBinding'
  const body = (o: Parameters<typeof managedBody>[0]): object => rbac ? managedBody(o) as object : { spec: o.spec ?? {} }
  const before = yaml({ metadata: { labels }, ...body(e.live) })
  const after = yaml({ metadata: { labels: { ...labels, ...e.desired.metadata.labels } }, ...body(e.desired) })
  const where = `${e.kind}/${e.namespace}/${e.name}`
  const patch = structuredPatch(`live/${where}`, `egress-mtls/${where}`, before, after, undefined, undefined, { context: 3 })
  return [
    `--- live/${where}`,
    `+++ egress-mtls/${where}`,
    ...patch.hunks.flatMap((h) => [`@@ -${String(h.oldStart)},${String(h.oldLines)} +${String(h.newStart)},${String(h.newLines)} @@`, ...h.lines]),
  ].map((l) => `${l}\n`).join('')
}
