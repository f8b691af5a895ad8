// The defaults of the configuration (docs/design.md): what a field not written means, applied
// to a configuration the schema and the rules have accepted. Pure.
import type { AnnotationFormat, Config, InjectionMode, Routing, SecretKeys } from './config.ts'
import { egressGatewayDefaults, type Origination, type RawEgressGateway } from './egress-gateway.ts'
import { UNBOUNDED } from './schema.ts'
import { type RawWaypoint, waypointDefaults } from './waypoint.ts'

/** The default bound on a connection's life (docs/design.md, "Rotation reaches the connection"). */
export const DEFAULT_MAX_CONNECTION_DURATION = '1h'

interface RawTarget {
  name: string
  host: string
  namespaces: string[]
  port?: number
  plainPort?: number
  secretName?: string
  secretKeys?: Partial<SecretKeys>
  sni?: string
  subjectAltNames?: string[]
  verifyServerName?: boolean
  /** A duration, or 0, '0' or 'off' for none. */
  maxConnectionDuration?: string | 0
  origination?: Origination
}
/** A configuration as written, once the schema and the rules have accepted it. */
export interface RawConfig {
  injection?: InjectionMode
  mountRoot?: string
  annotationFormat?: AnnotationFormat
  routing?: Routing
  workloadSelector?: boolean
  meshRootNamespace?: string
  excludeNamespaces?: string[]
  egressGateway?: RawEgressGateway
  waypoint?: RawWaypoint
  tlsStats?: boolean
  targets?: RawTarget[]
}

export function withDefaults (raw: RawConfig): Config {
  return {
    injection: raw.injection ?? 'label',
    mountRoot: (raw.mountRoot ?? '/etc/egress-mtls').replace(/(?<=.)\/+$/, ''),
    annotationFormat: raw.annotationFormat ?? 'map',
    routing: raw.routing ?? 'targetPort',
    workloadSelector: raw.workloadSelector ?? true,
    meshRootNamespace: raw.meshRootNamespace ?? 'istio-system',
    excludeNamespaces: raw.excludeNamespaces ?? [],
    egressGateway: egressGatewayDefaults(raw.egressGateway),
    waypoint: waypointDefaults(raw.waypoint),
    tlsStats: raw.tlsStats ?? false,
    targets: (raw.targets ?? []).map((t) => ({
      name: t.name,
      host: t.host,
      port: t.port ?? 443,
      plainPort: t.plainPort ?? 80,
      secretName: t.secretName ?? `${t.name}-mtls`,
      secretKeys: { cert: 'cert', key: 'key', cacert: 'cacert', ...t.secretKeys },
      namespaces: t.namespaces,
      sni: t.sni ?? t.host,
      subjectAltNames: t.subjectAltNames ?? [],
      verifyServerName: t.verifyServerName ?? true,
      ...maxConnectionDuration(t.maxConnectionDuration),
      origination: t.origination ?? 'sidecar',
    })),
  }
}

function maxConnectionDuration (written: string | 0 | undefined): { maxConnectionDuration?: string } {
  if (written === undefined) return { maxConnectionDuration: DEFAULT_MAX_CONNECTION_DURATION }
  return written === 0 || UNBOUNDED.includes(written) ? {} : { maxConnectionDuration: written }
}
