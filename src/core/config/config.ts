// The configuration of docs/design.md as the rest of egress-mtls reads it: the frozen Config
// that parse.ts makes of a file's text (schema.ts, rules.ts, defaults.ts), and the questions
// asked of it. Pure.
import type { EgressGateway, Origination } from './egress-gateway.ts'
import type { Waypoint } from './waypoint.ts'

export type { EgressGateway, Origination, Waypoint }
export type InjectionMode = 'label' | 'namespace' | 'cluster'
export type AnnotationFormat = 'map' | 'array'
export type Routing = 'targetPort' | 'virtualService'

export interface SecretKeys {
  readonly cert: string
  readonly key: string
  readonly cacert: string
}

export interface Target {
  readonly name: string
  readonly host: string
  readonly port: number
  readonly plainPort: number
  readonly secretName: string
  readonly secretKeys: SecretKeys
  /** Namespaces where the target is available; `["*"]` is the whole mesh. */
  readonly namespaces: readonly string[]
  readonly sni: string
  readonly subjectAltNames: readonly string[]
  /** The sidecar checks that the server certificate names `subjectAltNames`, or `sni` when none are given. */
  readonly verifyServerName: boolean
  /**
   * How long one upstream connection lives (DestinationRule `connectionPool.tcp.maxConnectionDuration`),
   * so that a renewed client certificate is presented within it: DEFAULT_MAX_CONNECTION_DURATION
   * unless the user wrote one; undefined when turned off (`0` or `off`).
   */
  readonly maxConnectionDuration?: string
  /** Where the mutual TLS starts: the workload's sidecar, the egress gateway or the ambient waypoint (the key stays in their namespace). */
  readonly origination: Origination
}

export interface Config {
  readonly injection: InjectionMode
  readonly mountRoot: string
  readonly annotationFormat: AnnotationFormat
  readonly routing: Routing
  readonly workloadSelector: boolean
  readonly meshRootNamespace: string
  /** Cluster mode: namespaces never injected, beyond the built-in ones. */
  readonly excludeNamespaces: readonly string[]
  /** The egress gateway of targets with `origination: egressGateway`. */
  readonly egressGateway: EgressGateway
  /** The ambient waypoint of targets with `origination: waypoint`. */
  readonly waypoint: Waypoint
  /** Injected pods get `proxy.istio.io/config` with a proxyStatsMatcher keeping Envoy's TLS statistics of their sidecar targets. */
  readonly tlsStats: boolean
  readonly targets: readonly Target[]
}

/** The targets available to workloads of a namespace, in configuration order. */
export function targetsForNamespace (config: Config, namespace: string): Target[] {
  return config.targets.filter((t) => t.namespaces.includes('*') || t.namespaces.includes(namespace))
}

/**
 * `targets` grouped by host, in the order each host first appears; a group of two or more is
 * a host those targets share (each presents its own certificate to it, to its own workloads).
 */
export function byHost (targets: readonly Target[]): Target[][] {
  const groups = new Map<string, Target[]>()
  for (const t of targets) {
    const group = groups.get(t.host)
    if (group === undefined) groups.set(t.host, [t])
    else group.push(t)
  }
  return [...groups.values()]
}
