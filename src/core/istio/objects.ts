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

/** The Kubernetes kinds of waypoint mode beside Istio's: the Secret reader's Role and RoleBinding (rbac.authorization.k8s.io). */
export type RbacKind = 'Role' | 'RoleBinding'
/** The kind of every provisioned object; a Gateway is Istio's (networking.istio.io) or, for a waypoint, the Gateway API's. */
export type ObjectKind = IstioKind | RbacKind

export const RBAC_API_VERSION = 'rbac.authorization.k8s.io/v1'
export const GATEWAY_API_VERSION = 'gateway.networking.k8s.io/v1'

/** One kind of object provision manages, where it lives in the API. */
export interface Resource {
  readonly apiVersion: string
  readonly kind: ObjectKind
  readonly plural: string
}

/**
 * Every resource provision manages, in the order they are applied (a policy before what it
 * guards; the waypoint's Secret reader before the waypoint): Istio's kinds, then those of
 * waypoint mode.
 */
export const RESOURCES: readonly Resource[] = [
  ...ISTIO_KINDS.map((kind) => ({ apiVersion: `${ISTIO_GROUPS[kind]}/${ISTIO_VERSION}`, kind, plural: ISTIO_PLURALS[kind] })),
  { apiVersion: RBAC_API_VERSION, kind: 'Role', plural: 'roles' },
  { apiVersion: RBAC_API_VERSION, kind: 'RoleBinding', plural: 'rolebindings' },
  { apiVersion: GATEWAY_API_VERSION, kind: 'Gateway', plural: 'gateways' },
]

/**
 * The resource of an object's apiVersion and kind. Without an apiVersion, a kind's first
 * resource (a Gateway is then Istio's). Undefined: not one provision manages.
 */
export function resourceOf (apiVersion: string | undefined, kind: string): Resource | undefined {
  return RESOURCES.find((r) => (apiVersion === undefined || r.apiVersion === apiVersion) && r.kind === kind)
}

/** Where `o` lives in the API: `resourcePath` of its resource. */
export function objectPath (
  o: { apiVersion: string, kind: string, metadata: { namespace: string, name: string } }, name: string = o.metadata.name,
): string {
  const resource = resourceOf(o.apiVersion, o.kind)
  if (resource === undefined) throw new Error(`${o.apiVersion} ${o.kind} is not a kind egress-mtls provisions`)
  return resourcePath(resource, o.metadata.namespace, name)
}

/** `/apis/<group>/<version>/namespaces/<namespace>/<plural>[/<name>]`: where an object of `resource` lives. */
export function resourcePath (resource: Resource, namespace: string, name = ''): string {
  return `/apis/${resource.apiVersion}/namespaces/${namespace}/${resource.plural}${name === '' ? '' : `/${name}`}`
}

/** `/apis/<group>/v1/namespaces/<namespace>/<plural>[/<name>]`: where an object of `kind` lives. */
export function istioPath (kind: IstioKind, namespace: string, name = ''): string {
  return `/apis/${ISTIO_GROUPS[kind]}/${ISTIO_VERSION}/namespaces/${namespace}/${ISTIO_PLURALS[kind]}${name === '' ? '' : `/${name}`}`
}

/**
 * A provisioned object: an Istio one, or (waypoint mode) a Role, RoleBinding or Gateway API
 * Gateway. A Role carries `rules` and a RoleBinding `subjects` and `roleRef` instead of a spec.
 */
export interface IstioObject {
  readonly apiVersion: string
  readonly kind: ObjectKind
  readonly metadata: {
    readonly name: string
    readonly namespace: string
    readonly labels: Readonly<Record<string, string>>
  }
  readonly spec?: Readonly<Record<string, unknown>>
  readonly rules?: readonly Readonly<Record<string, unknown>>[]
  readonly subjects?: readonly Readonly<Record<string, unknown>>[]
  readonly roleRef?: Readonly<Record<string, unknown>>
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

/**
 * A DestinationRule's spec originating mutual TLS to `target` on `port` with the certificate
 * of its Secret by name (`credentialName`: the proxy's SDS reads the Secret of its own
 * namespace): at the egress gateway and at the waypoint.
 */
export function credentialOrigination (target: Target, port: number, exportTo: readonly string[]): Record<string, unknown> {
  const names = serverNames(target)
  return {
    host: target.host,
    exportTo: [...exportTo],
    trafficPolicy: {
      portLevelSettings: [{
        port: { number: port },
        ...connectionPool(target),
        tls: {
          mode: 'MUTUAL',
          credentialName: target.secretName,
          sni: target.sni,
          ...(names.length > 0 ? { subjectAltNames: names } : {}),
        },
      }],
    },
  }
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
