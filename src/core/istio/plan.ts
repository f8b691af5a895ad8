// What provision has to do: the rendered objects against the live ones. Pure.
// Only objects carrying our instance's ownership labels are ever updated or deleted; an
// object at a rendered name that is not ours is a conflict, taken over only on request.
// Ownership is the instance's (managed-by and instance labels), never a target's: the
// target label only says which target an object serves, and a host's shared ServiceEntry
// (VirtualService) carries none. What is pruned is what is no longer rendered, by kind,
// namespace and name: a shared object stays while two targets of its host still meet in
// its namespace, so removing one target removes its DestinationRule and keeps what the
// others need; the last but one leaving hands the host to a ServiceEntry of the remaining
// target's own, created (desired entries come first) before the shared one is deleted.
import { jsonEqual } from '../base/json.ts'
import { INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGER, TARGET_LABEL } from '../base/names.ts'
import { type IstioKind, type IstioObject, ownedBy } from './render.ts'

export type Action = 'create' | 'update' | 'unchanged' | 'delete' | 'conflict' | 'adopt'
export const ACTIONS: readonly Action[] = ['create', 'update', 'unchanged', 'delete', 'conflict', 'adopt']

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
  /** The object to apply (create, update, unchanged, adopt; conflict: what would be applied). */
  readonly desired?: IstioObject
  /** The object found in the cluster (all but create). */
  readonly live?: LiveObject
  /** delete: why it is no longer wanted; conflict, adopt: whose the object is. */
  readonly reason?: string
}

export interface PlanOptions {
  /** The instance whose objects these are (their `egress-mtls.io/instance` label). */
  readonly instance: string
  /** Delete our live objects that are not desired (default true). */
  readonly prune?: boolean
  /** Take over objects at our names that are not ours (default false: conflicts). */
  readonly adopt?: boolean
  /** Why every deletion happens (uninstall), instead of what the configuration no longer renders. */
  readonly deleteReason?: string
}

const key = (kind: string, namespace: string, name: string): string => `${kind}\0${namespace}\0${name}`

/**
 * One entry per desired object (create, update, unchanged, or conflict/adopt when an object
 * that is not ours holds its name) and, when pruning, one per live object of our instance
 * that is not desired (delete). `live` may hold anything: objects that are not our
 * instance's are never updated or deleted unless adopted. Desired objects come first, in
 * their order; deletions follow, sorted.
 */
export function plan (desired: readonly IstioObject[], live: readonly LiveObject[], options: PlanOptions): PlanEntry[] {
  const { instance } = options
  const liveByKey = new Map(live.map((o) => [key(o.kind, o.metadata.namespace, o.metadata.name), o]))
  const wanted = new Set<string>()
  const entries: PlanEntry[] = []
  for (const d of desired) {
    const k = key(d.kind, d.metadata.namespace, d.metadata.name)
    wanted.add(k)
    const l = liveByKey.get(k)
    const at = { kind: d.kind, namespace: d.metadata.namespace, name: d.metadata.name, desired: d }
    if (l === undefined) entries.push({ action: 'create', ...at })
    else if (ownedBy(l.metadata.labels, instance)) entries.push({ action: matches(d, l) ? 'unchanged' : 'update', ...at, live: l })
    else entries.push({ action: options.adopt === true ? 'adopt' : 'conflict', ...at, live: l, reason: owner(l.metadata.labels) })
  }
  if (options.prune ?? true) {
    const where = renderedWhere(desired)
    const isWanted = (l: LiveObject): boolean => wanted.has(key(l.kind, l.metadata.namespace, l.metadata.name))
    const stale = live.filter((l) => ownedBy(l.metadata.labels, instance) && !isWanted(l))
    stale.sort((a, b) => key(a.metadata.namespace, a.metadata.name, a.kind) < key(b.metadata.namespace, b.metadata.name, b.kind) ? -1 : 1)
    for (const l of stale) {
      entries.push({ action: 'delete', kind: l.kind, namespace: l.metadata.namespace, name: l.metadata.name, live: l, reason: options.deleteReason ?? whyDelete(l, where, desired) })
    }
  }
  return entries
}

/** target → namespaces where the configuration renders something for it. */
function renderedWhere (desired: readonly IstioObject[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const d of desired) {
    const t = d.metadata.labels[TARGET_LABEL] ?? ''
    const set = out.get(t) ?? new Set<string>()
    set.add(d.metadata.namespace)
    out.set(t, set)
  }
  return out
}

function whyDelete (l: LiveObject, where: ReadonlyMap<string, ReadonlySet<string>>, desired: readonly IstioObject[]): string {
  const target = l.metadata.labels?.[TARGET_LABEL]
  const host = hostOf(l.spec)
  // The object now rendered for the same host in the same namespace, if any (a shared one
  // replacing a target's own, or the other way round).
  const successor = host === undefined
    ? undefined
    : desired.find((d) => d.kind === l.kind && d.metadata.namespace === l.metadata.namespace && hostOf(d.spec) === host)
  if (target === undefined) {
    const gone = `host ${host ?? '?'} is no longer shared by targets in namespace ${l.metadata.namespace}`
    return successor === undefined ? gone : `${gone}: its ${l.kind} is now ${successor.metadata.name}`
  }
  if (successor !== undefined && successor.metadata.labels[TARGET_LABEL] === undefined) {
    return `targets share host ${host ?? '?'} in namespace ${l.metadata.namespace}: its ${l.kind} is now ${successor.metadata.name}`
  }
  const namespaces = where.get(target)
  if (namespaces === undefined) return `target ${target} is no longer in the configuration`
  if (!namespaces.has(l.metadata.namespace)) return `target ${target} is no longer provisioned in namespace ${l.metadata.namespace}`
  return `the configuration no longer renders a ${l.kind} for target ${target}`
}

/** The host a ServiceEntry or VirtualService (hosts) or a DestinationRule (host) is for. */
function hostOf (spec: unknown): string | undefined {
  if (typeof spec !== 'object' || spec === null) return undefined
  const { host, hosts } = spec as { host?: unknown, hosts?: unknown }
  const h = Array.isArray(hosts) ? hosts[0] as unknown : host
  return typeof h === 'string' ? h : undefined
}

/** Whose an object that is not ours is, in words. */
export function owner (labels: Readonly<Record<string, string>> | undefined): string {
  const manager = labels?.[MANAGED_BY_LABEL]
  const instance = labels?.[INSTANCE_LABEL]
  if (manager === MANAGER && instance !== undefined) return `it belongs to egress-mtls instance "${instance}"`
  if (manager === MANAGER) return `it carries ${MANAGED_BY_LABEL}=${MANAGER} but no ${INSTANCE_LABEL} label`
  if (manager !== undefined) return `it is managed by "${manager}"`
  return 'it was not made by egress-mtls'
}

/**
 * The live object is as we manage it: the same spec (all of it: egress-mtls owns the whole
 * spec), and our labels with our values (other labels are someone else's business).
 */
export function matches (desired: IstioObject, live: LiveObject): boolean {
  const labels = live.metadata.labels ?? {}
  return Object.entries(desired.metadata.labels).every(([k, v]) => labels[k] === v) && jsonEqual(desired.spec, live.spec)
}

/** `create ServiceEntry payments/egress-mtls-bank-api`, with the reason of a delete, conflict or adoption. */
export function formatEntry (e: PlanEntry): string {
  return `${e.action} ${e.kind} ${e.namespace}/${e.name}${e.reason === undefined ? '' : ` (${e.reason})`}`
}

/** What resolves a conflict, in one line. */
export function conflictMessage (e: PlanEntry, instance: string): string {
  return `${e.kind} ${e.namespace}/${e.name}: conflict: an object with this name exists and ${e.reason ?? owner(e.live?.metadata.labels)}; ` +
    `left untouched. Delete or rename it, or run provision --adopt to make it instance "${instance}"'s`
}

/** How many entries of each action. */
export function countActions (entries: readonly PlanEntry[]): Record<Action, number> {
  const counts: Record<Action, number> = { create: 0, update: 0, unchanged: 0, delete: 0, conflict: 0, adopt: 0 }
  for (const e of entries) counts[e.action]++
  return counts
}
