// What provision has to do: the rendered objects against the live ones that carry our
// labels. Pure.
import { jsonEqual } from './json.ts'
import type { IstioKind, IstioObject } from './render.ts'

export type Action = 'create' | 'update' | 'unchanged' | 'delete'

/** The fields of a live object that the plan reads (as the API returns them). */
export interface LiveObject {
  readonly kind: IstioKind
  readonly metadata: {
    readonly name: string
    readonly namespace: string
    readonly labels?: Readonly<Record<string, string>>
    readonly resourceVersion?: string
    readonly uid?: string
  }
  readonly spec?: unknown
}

export interface PlanEntry {
  readonly action: Action
  readonly kind: IstioKind
  readonly namespace: string
  readonly name: string
  /** The object to apply (create, update, unchanged). */
  readonly desired?: IstioObject
  /** The object found in the cluster (update, unchanged, delete). */
  readonly live?: LiveObject
}

export interface PlanOptions {
  /** Delete live objects that are not desired (default true). */
  readonly prune?: boolean
}

const key = (kind: string, namespace: string, name: string): string => `${kind}\0${namespace}\0${name}`

/**
 * One entry per desired object (create, update or unchanged) and, when pruning, one per
 * live object that is not desired (delete). `live` must hold only objects carrying our
 * ownership labels: the plan deletes whatever it is given and does not want.
 * Desired objects come first, in their order; deletions follow, sorted.
 */
export function plan (desired: readonly IstioObject[], live: readonly LiveObject[], options: PlanOptions = {}): PlanEntry[] {
  const liveByKey = new Map(live.map((o) => [key(o.kind, o.metadata.namespace, o.metadata.name), o]))
  const wanted = new Set<string>()
  const entries: PlanEntry[] = []
  for (const d of desired) {
    const k = key(d.kind, d.metadata.namespace, d.metadata.name)
    wanted.add(k)
    const l = liveByKey.get(k)
    const at = { kind: d.kind, namespace: d.metadata.namespace, name: d.metadata.name, desired: d }
    if (l === undefined) entries.push({ action: 'create', ...at })
    else entries.push({ action: matches(d, l) ? 'unchanged' : 'update', ...at, live: l })
  }
  if (options.prune ?? true) {
    const stale = live.filter((l) => !wanted.has(key(l.kind, l.metadata.namespace, l.metadata.name)))
    stale.sort((a, b) => key(a.metadata.namespace, a.metadata.name, a.kind) < key(b.metadata.namespace, b.metadata.name, b.kind) ? -1 : 1)
    for (const l of stale) entries.push({ action: 'delete', kind: l.kind, namespace: l.metadata.namespace, name: l.metadata.name, live: l })
  }
  return entries
}

/**
 * The live object is as we manage it: the same spec (all of it: egress-mtls owns the whole
 * spec), and our labels with our values (other labels are someone else's business).
 */
export function matches (desired: IstioObject, live: LiveObject): boolean {
  const labels = live.metadata.labels ?? {}
  return Object.entries(desired.metadata.labels).every(([k, v]) => labels[k] === v) && jsonEqual(desired.spec, live.spec)
}

/** `create ServiceEntry payments/egress-mtls-bank-api` */
export function formatEntry (e: PlanEntry): string {
  return `${e.action} ${e.kind} ${e.namespace}/${e.name}`
}

/** How many entries of each action. */
export function countActions (entries: readonly PlanEntry[]): Record<Action, number> {
  const counts: Record<Action, number> = { create: 0, update: 0, unchanged: 0, delete: 0 }
  for (const e of entries) counts[e.action]++
  return counts
}
