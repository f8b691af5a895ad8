// What an update changes, as a unified diff (like `kubectl diff`): the object's labels and
// spec as YAML with sorted keys, live first, then what provision leaves. Pure.
import { structuredPatch } from 'diff'
import { stringify } from 'yaml'

import type { PlanEntry } from './plan.ts'

const yaml = (v: unknown): string => stringify(v, { sortMapEntries: true, lineWidth: 0 })

/**
 * The diff of an update or adoption; '' for the other actions. Labels after the change are
 * the live ones with ours set (server-side apply leaves other labels alone).
 */
export function entryDiff (e: PlanEntry): string {
  if ((e.action !== 'update' && e.action !== 'adopt') || e.desired === undefined || e.live === undefined) return ''
  const labels = e.live.metadata.labels ?? {}
  const before = yaml({ metadata: { labels }, spec: e.live.spec ?? {} })
  const after = yaml({ metadata: { labels: { ...labels, ...e.desired.metadata.labels } }, spec: e.desired.spec })
  const where = `${e.kind}/${e.namespace}/${e.name}`
  const patch = structuredPatch(`live/${where}`, `egress-mtls/${where}`, before, after, undefined, undefined, { context: 3 })
  return [
    `--- live/${where}`,
    `+++ egress-mtls/${where}`,
    ...patch.hunks.flatMap((h) => [`@@ -${String(h.oldStart)},${String(h.oldLines)} +${String(h.newStart)},${String(h.newLines)} @@`, ...h.lines]),
  ].map((l) => `${l}\n`).join('')
}
