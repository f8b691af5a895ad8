// The `proxy.istio.io/config` annotation egress-mtls writes when `tlsStats` is on
// (docs/design.md "The mutation"): a proxyStatsMatcher whose inclusionRegexps keep Envoy's
// TLS statistics (`cluster.<cluster>.ssl.*`: handshake, connection_error, fail_verify_*)
// of each sidecar target's outbound clusters, which Istio's default stats matcher drops.
// A value of exactly the form egress-mtls writes is its own: rewritten or removed as the
// targets change. Any other value is the user's: never rewritten (admit() warns). Pure.
import type { Config, Target } from '../config/config.ts'

/** What becomes of the annotation: kept as it is, removed, or set to a new value. */
export type ProxyConfigEdit = 'keep' | 'remove' | { readonly set: string }

const CLUSTER = 'cluster\\.outbound\\|[0-9]+\\|\\|'
const SSL = ';\\.ssl\\..*'

/**
 * The regexp (RE2, matched against the whole stat name) of one host's outbound clusters' TLS
 * statistics. istiod gives each cluster the stat name `<cluster name>;` (alt_stat_name), which
 * the bootstrap's `cluster_name` tag reads up to the `;`: `cluster.outbound|443||<host>;.ssl.handshake`.
 */
export const tlsStatsRegexp = (host: string): string => `${CLUSTER}${host.replaceAll('.', '\\.')}${SSL}`

/** The regexps egress-mtls wants on a pod template with these targets (one per sidecar target's host, sorted), or undefined. */
function wantedRegexps (targets: readonly Target[], config: Config): string[] | undefined {
  // Asked on every injected review: with tlsStats off (the default), nothing is built.
  if (!config.tlsStats) return undefined
  const hosts = [...new Set(targets.filter((t) => t.origination === 'sidecar').map((t) => t.host))].sort()
  return hosts.length > 0 ? hosts.map(tlsStatsRegexp) : undefined
}

const valueOf = (regexps: readonly string[]): string => JSON.stringify({ proxyStatsMatcher: { inclusionRegexps: regexps } })
const OWN_PREFIX = valueOf([]).slice(0, -3)

/** The value egress-mtls wants on a pod template with these targets, or undefined. */
export function wantedProxyConfig (targets: readonly Target[], config: Config): string | undefined {
  const regexps = wantedRegexps(targets, config)
  return regexps === undefined ? undefined : valueOf(regexps)
}

/** Whether a value is of exactly the form egress-mtls writes (compact JSON, only its regexps); any other value is never parsed. */
export function isOwnProxyConfig (value: string): boolean {
  if (!value.startsWith(OWN_PREFIX) || !value.endsWith(']}}')) return false
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    return false
  }
  const regexps = (parsed as { proxyStatsMatcher?: { inclusionRegexps?: unknown } } | null)?.proxyStatsMatcher?.inclusionRegexps
  if (!Array.isArray(regexps) || regexps.length === 0) return false
  const own = regexps.every((r) => typeof r === 'string' && r.startsWith(CLUSTER) && r.endsWith(SSL))
  return own && value === valueOf(regexps as string[])
}

/** What becomes of the annotation on a pod template injected with these targets. */
export function proxyConfigEdit (current: string | undefined, targets: readonly Target[], config: Config): ProxyConfigEdit {
  const wanted = wantedProxyConfig(targets, config)
  if (current === wanted) return 'keep'
  if (current === undefined) return wanted === undefined ? 'keep' : { set: wanted }
  if (!isOwnProxyConfig(current)) return 'keep'
  return wanted === undefined ? 'remove' : { set: wanted }
}

/** The user's own value, kept where egress-mtls wanted to write its own: what the warning names, or undefined. */
export function proxyConfigKept (current: string | undefined, targets: readonly Target[], config: Config): readonly string[] | undefined {
  if (current === undefined) return undefined
  const regexps = wantedRegexps(targets, config)
  if (regexps === undefined || isOwnProxyConfig(current)) return undefined
  return regexps
}

/** What of the annotation the mutation depends on (its cache key): egress-mtls's own value, or only whether a value is there. */
export function proxyConfigKey (current: string | undefined): string | undefined {
  if (current === undefined) return undefined
  return isOwnProxyConfig(current) ? current : ''
}
