// What every provisioned Istio object shares: the kinds and where they live in the API, the
// ownership labels, the namespaces of a target and the server names it verifies. Pure.
import { DEFAULT_INSTANCE, INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGER, TARGET_LABEL } from '../base/names.ts'
import type { Config, Target } from '../config/config.ts'

export const ISTIO_API_VERSION = 'networking.istio.io/v1'
export const ISTIO_GROUP = 'networking.istio.io'
export const ISTIO_VERSION = 'v1'

/** The kinds egress-mtls provisions, in the order they are rendered and applied (a policy before what it guards). */
export const ISTIO_KINDS = ['AuthorizationPolicy', 'ServiceEntry', 'DestinationRule', 'VirtualService', 'Gateway'] as const
export type IstioKind = typeof ISTIO_KINDS[number]

/** The API group of each kind (all at version v1). */
export const ISTIO_GROUPS: Readonly<Record<IstioKind, string>> = {
  ServiceEntry: ISTIO_GROUP,
  DestinationRule: ISTIO_GROUP,
  VirtualService: ISTIO_GROUP,
  Gateway: ISTIO_GROUP,
  AuthorizationPolicy: 'security.istio.io',
}

/** The URL plural of each kind (…/namespaces/NS/<plural>). */
export const ISTIO_PLURALS: Readonly<Record<IstioKind, string>> = {
  ServiceEntry: 'serviceentries',
  DestinationRule: 'destinationrules',
  VirtualService: 'virtualservices',
  Gateway: 'gateways',
  AuthorizationPolicy: 'authorizationpolicies',
}

/** `/apis/<group>/v1/namespaces/<namespace>/<plural>[/<name>]`: where an object of `kind` lives. */
export function istioPath (kind: IstioKind, namespace: string, name = ''): string {
  return `/apis/${ISTIO_GROUPS[kind]}/${ISTIO_VERSION}/namespaces/${namespace}/${ISTIO_PLURALS[kind]}${name === '' ? '' : `/${name}`}`
}

export interface IstioObject {
  readonly apiVersion: string
  readonly kind: IstioKind
  readonly metadata: {
    readonly name: string
    readonly namespace: string
    readonly labels: Readonly<Record<string, string>>
  }
  readonly spec: Readonly<Record<string, unknown>>
}

/**
 * The labels that mark an object as owned by one instance of egress-mtls (managed-by and
 * instance; what ownedBy checks), and the target it serves: none on a host's shared objects.
 */
export function ownershipLabels (target: string | undefined, instance: string = DEFAULT_INSTANCE): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGER, [INSTANCE_LABEL]: instance, ...(target === undefined ? {} : { [TARGET_LABEL]: target }) }
}

/** Label selector of everything egress-mtls provisions, whichever the instance. */
export const OWNED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGER}`

/** Label selector of what one instance provisions. */
export const instanceSelector = (instance: string): string => `${OWNED_SELECTOR},${INSTANCE_LABEL}=${instance}`

/**
 * Whether `labels` mark an object as `instance`'s: managed by egress-mtls, that instance
 * (what the chart's admission policy checks too). Anything else at our name is someone
 * else's: a conflict.
 */
export function ownedBy (labels: Readonly<Record<string, string>> | undefined, instance: string): boolean {
  return labels?.[MANAGED_BY_LABEL] === MANAGER && labels[INSTANCE_LABEL] === instance
}

/** Where a target's resources live: its namespaces, or the mesh root for `["*"]`. */
export function targetNamespaces (config: Config, target: Target): readonly string[] {
  return target.namespaces.includes('*') ? [config.meshRootNamespace] : target.namespaces
}

/**
 * The names the server certificate must carry (DestinationRule `subjectAltNames`): the
 * user's, else `sni` (which defaults to the host). Explicit, not Istio's auto-SAN: that
 * needs `sni` unset and then checks the name in each request's Host header (HTTP only),
 * so what is verified would depend on the application; an explicit list does not.
 * Empty only when the user turned the check off (`verifyServerName: false`).
 */
export function serverNames (target: Target): string[] {
  if (target.subjectAltNames.length > 0) return [...target.subjectAltNames]
  return target.verifyServerName ? [target.sni] : []
}

/** The connection pool of a DestinationRule's port: connections live at most the target's maxConnectionDuration, if any. */
export function connectionPool (target: Target): { connectionPool?: { tcp: { maxConnectionDuration: string } } } {
  const duration = target.maxConnectionDuration
  return duration === undefined ? {} : { connectionPool: { tcp: { maxConnectionDuration: duration } } }
}

/** A maker of `target`'s objects (undefined: a host's shared ones) named `name` in `namespace`. */
export function istioObject (target: Target | undefined, namespace: string, name: string, instance: string) {
  return (kind: IstioKind, spec: Record<string, unknown>): IstioObject => ({
    apiVersion: `${ISTIO_GROUPS[kind]}/${ISTIO_VERSION}`,
    kind,
    metadata: { name, namespace, labels: ownershipLabels(target?.name, instance) },
    spec,
  })
}

/** The ServiceEntry of a target where its workloads are: the plain port (to `port` with routing targetPort) and the TLS port. */
export function serviceEntrySpec (config: Config, target: Target, exportTo: readonly string[]): Record<string, unknown> {
  return {
    hosts: [target.host],
    exportTo,
    location: 'MESH_EXTERNAL',
    resolution: 'DNS',
    ports: [
      { number: target.plainPort, name: 'http', protocol: 'HTTP', ...(config.routing === 'virtualService' ? {} : { targetPort: target.port }) },
      { number: target.port, name: 'https', protocol: 'HTTPS' },
    ],
  }
}
