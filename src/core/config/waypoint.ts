// Origination at an ambient waypoint (docs/design.md "Origination at a waypoint"): the
// `waypoint` block of the configuration, its schema, defaults and the rules a schema cannot
// say. Pure; config.ts puts it together with the rest.

import { isRecord } from '../base/json.ts'
import { DNS1123_LABEL_FORMAT } from '../base/name-patterns.ts'
import { GATEWAY_SECRET_KEYS } from './egress-gateway.ts'

/** The waypoint that serves the ServiceEntries of `origination: waypoint` targets. */
export interface Waypoint {
  /** The waypoint's Gateway; Istio names its Deployment, Service and ServiceAccount the same. */
  readonly name: string
  /** Its namespace: the targets' ServiceEntries, DestinationRules, policies and Secrets live there. */
  readonly namespace: string
  /** Whether provision creates the waypoint (a Gateway API Gateway of class istio-waypoint); otherwise doctor checks it exists. */
  readonly create: boolean
}

/** The defaults of Istio's ambient egress guide (`istioctl waypoint apply --namespace istio-egress`). */
export const DEFAULT_WAYPOINT: Waypoint = { name: 'waypoint', namespace: 'istio-egress', create: false }

/** The schema of the top-level `waypoint` block. */
export const waypointSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', maxLength: 63, pattern: DNS1123_LABEL_FORMAT },
    namespace: { type: 'string', maxLength: 63, pattern: DNS1123_LABEL_FORMAT },
    create: { type: 'boolean' },
  },
} as const

export interface RawWaypoint {
  name?: string
  namespace?: string
  create?: boolean
}

export function waypointDefaults (raw: RawWaypoint | undefined): Waypoint {
  return {
    name: raw?.name ?? DEFAULT_WAYPOINT.name,
    namespace: raw?.namespace ?? DEFAULT_WAYPOINT.namespace,
    create: raw?.create ?? DEFAULT_WAYPOINT.create,
  }
}

interface Issue { path: string[], message: string }

/**
 * The rule of waypoint mode a schema cannot say: for each waypoint target, Secret keys the
 * waypoint can read through credentialName (as at an egress gateway). Fields of the wrong
 * type are the schema's to report.
 */
export function waypointIssues (raw: Record<string, unknown>): Issue[] {
  const out: Issue[] = []
  const targets = Array.isArray(raw['targets']) ? raw['targets'] as unknown[] : []
  targets.forEach((t, i) => {
    if (!isRecord(t) || t['origination'] !== 'waypoint' || !isRecord(t['secretKeys'])) return
    const keys = t['secretKeys']
    const chosen = [keys['cert'] ?? 'cert', keys['key'] ?? 'key', keys['cacert'] ?? 'cacert']
    if (!GATEWAY_SECRET_KEYS.some((set) => set.every((k, n) => chosen[n] === k))) {
      out.push({
        path: ['targets', String(i), 'secretKeys'],
        message: 'must be {cert: cert, key: key, cacert: cacert} or {cert: tls.crt, key: tls.key, cacert: ca.crt} with origination waypoint: the keys Istio\'s waypoint reads from credentialName',
      })
    }
  })
  return out
}

/**
 * Target `b` (at `i`) has the host of target `a` (at `first`), and one of them originates at
 * the waypoint: refused, with the issue to report (undefined when neither does). The
 * waypoint's namespace holds one ServiceEntry per host, and every call through it to the
 * host leaves with one client certificate.
 */
export function waypointSharedHost (
  a: Record<string, unknown>, first: number, b: Record<string, unknown>, i: number, host: string,
): Issue | undefined {
  const atWaypoint = (t: Record<string, unknown>): boolean => t['origination'] === 'waypoint'
  if (!atWaypoint(a) && !atWaypoint(b)) return undefined
  const other = `targets[${first}] (${typeof a['name'] === 'string' ? a['name'] : '?'})`
  return {
    path: ['targets', String(i), atWaypoint(b) ? 'origination' : 'host'],
    message: `shares host "${host}" with ${other}, but ${atWaypoint(b) ? 'this target' : other} has origination: waypoint: every call through the waypoint ` +
      'to a host leaves with one client certificate; give it a host of its own, or use origination: sidecar for both',
  }
}
