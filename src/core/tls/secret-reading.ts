// What `monitor` knows of one target's Secret in one namespace: the validity of the client
// certificate and of the earliest-expiring CA of `cacert`, and what is wrong with it, as
// numbers and reason names, never key material. Which Secrets to watch, where. Pure.
import type { Config, Target } from '../config/config.ts'
import { materialOf } from './client-material.ts'
import { keyMatches, parseBundle, parseKey } from './x509.ts'

/** The reasons of egress_mtls_client_secret_problem, in the order they are reported. */
export const PROBLEMS = ['missing', 'unreadable', 'key_mismatch', 'expired', 'not_yet_valid'] as const
export type Problem = typeof PROBLEMS[number]
/** The problems a Secret's content decides alone; `expired` and `not_yet_valid` depend on the clock. */
export type StaticProblem = Extract<Problem, 'missing' | 'unreadable' | 'key_mismatch'>

export interface SecretReading {
  /** The client certificate's notBefore and notAfter, Unix seconds (when it parses). */
  readonly notBefore?: number
  readonly notAfter?: number
  /** The notAfter of the earliest-expiring certificate of `cacert`, Unix seconds. */
  readonly caNotAfter?: number
  readonly problems: readonly StaticProblem[]
}

const seconds = (d: Date): number => d.getTime() / 1000

/**
 * Reads `target`'s Secret (`data` decoded to text; undefined: there is none). `unreadable`:
 * a key missing or empty, `cert` or `cacert` without a certificate that parses, `key` not a
 * private key; `key_mismatch`: the key is not the client certificate's.
 */
export function readSecret (target: Target, data: Readonly<Record<string, string>> | undefined): SecretReading {
  if (data === undefined) return { problems: ['missing'] }
  const { material } = materialOf(target.secretKeys, data)
  const sent = parseBundle(material.cert)
  const trusted = parseBundle(material.cacert)
  const key = parseKey(material.key)
  const leaf = sent.certs[0]
  const cas = trusted.certs.map((c) => seconds(c.validToDate))
  const problems: StaticProblem[] = []
  if (leaf === undefined || key === undefined || cas.length === 0) problems.push('unreadable')
  if (leaf !== undefined && key !== undefined && !keyMatches(leaf, key)) problems.push('key_mismatch')
  return {
    ...(leaf === undefined ? {} : { notBefore: seconds(leaf.validFromDate), notAfter: seconds(leaf.validToDate) }),
    ...(cas.length === 0 ? {} : { caNotAfter: Math.min(...cas) }),
    problems,
  }
}

/** The problems holding at `now`: the Secret's own, then the client certificate's validity. */
export function problemsAt (reading: SecretReading, now: Date): Problem[] {
  const t = seconds(now)
  const problems: Problem[] = [...reading.problems]
  if (reading.notAfter !== undefined && t >= reading.notAfter) problems.push('expired')
  if (reading.notBefore !== undefined && t < reading.notBefore) problems.push('not_yet_valid')
  return problems
}

/** One watch: the Secrets called `secretName` in `namespace`, or in every namespace (undefined). */
export interface WatchScope {
  readonly namespace?: string
  readonly secretName: string
}

/**
 * The watches that cover every target's Secret, each once: per namespace a target lists, and
 * across every namespace for a target available in the whole mesh (`["*"]`), whose
 * namespaced watches of the same name are then redundant.
 */
export function watchScopes (config: Config): WatchScope[] {
  const everywhere = new Set(config.targets.filter(meshWide).map((t) => t.secretName))
  const scopes = new Map<string, WatchScope>()
  for (const name of [...everywhere].sort()) scopes.set(`*/${name}`, { secretName: name })
  for (const t of config.targets) {
    if (meshWide(t) || everywhere.has(t.secretName)) continue
    for (const namespace of secretNamespaces(config, t)) scopes.set(`${namespace}/${t.secretName}`, { namespace, secretName: t.secretName })
  }
  return [...scopes.values()]
}

/**
 * Where a target's Secret lives: each namespace it lists in sidecar mode; the egress
 * gateway's (the waypoint's) namespace only for a target that originates there, whatever its namespaces.
 */
export function secretNamespaces (config: Config, t: Target): readonly string[] {
  if (t.origination === 'egressGateway') return [config.egressGateway.namespace]
  return t.origination === 'waypoint' ? [config.waypoint.namespace] : t.namespaces
}

/** The targets whose Secret a Secret `name` in `namespace` is. */
export function targetsOfSecret (config: Config, namespace: string, name: string): Target[] {
  return config.targets.filter((t) => t.secretName === name && (meshWide(t) || secretNamespaces(config, t).includes(namespace)))
}

/**
 * The (namespace, target) pairs whose Secret must exist: every namespace a target lists (the
 * gateway's namespace for a target that originates there).
 * A mesh-wide target needs its Secret only where workloads use it, which the monitor does
 * not know: it reports those it finds.
 */
export function expectedSecrets (config: Config): { namespace: string, target: Target }[] {
  return config.targets.filter((t) => !meshWide(t)).flatMap((target) => secretNamespaces(config, target).map((namespace) => ({ namespace, target })))
}

/** A sidecar-mode target of the whole mesh: its Secret may be in any namespace. */
const meshWide = (t: Target): boolean => t.origination === 'sidecar' && t.namespaces.includes('*')

/** One series set of the monitor: a target's Secret in a namespace, as last read. */
export interface Row {
  readonly namespace: string
  readonly target: string
  readonly secret: string
  readonly reading: SecretReading
}

/** A change to the monitor's rows, keyed `namespace/target`: a new reading, or the row removed (undefined). */
export type Change = readonly [key: string, row: Row | undefined]

export const rowKey = (namespace: string, target: string): string => `${namespace}/${target}`

/**
 * What a Secret `name` in `namespace` holding `data` (undefined: gone) changes: the rows of
 * every target it serves there. A mesh-wide target's row goes away with its Secret (its
 * `missing` is never reported: see expectedSecrets).
 */
export function secretChanges (config: Config, namespace: string, name: string, data: Readonly<Record<string, string>> | undefined): Change[] {
  return targetsOfSecret(config, namespace, name).map((t) => {
    const key = rowKey(namespace, t.name)
    if (data === undefined && meshWide(t)) return [key, undefined]
    return [key, { namespace, target: t.name, secret: name, reading: readSecret(t, data) }]
  })
}

/**
 * After a list of `scope` found its Secret in `present` only: the namespaces where it is
 * gone, among those the configuration expects it in and those `known` rows are for.
 */
export function absentAfterList (config: Config, scope: WatchScope, present: ReadonlySet<string>, known: Iterable<Row>): string[] {
  const inScope = (ns: string): boolean => scope.namespace === undefined || scope.namespace === ns
  const namespaces = new Set<string>()
  for (const { namespace, target } of expectedSecrets(config)) if (target.secretName === scope.secretName && inScope(namespace)) namespaces.add(namespace)
  for (const row of known) if (row.secret === scope.secretName && inScope(row.namespace)) namespaces.add(row.namespace)
  return [...namespaces].filter((ns) => !present.has(ns)).sort()
}
