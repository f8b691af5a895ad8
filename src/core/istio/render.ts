// The Istio resources of docs/design.md "Istio resources": per target and namespace, a
// ServiceEntry, a DestinationRule and (routing: virtualService) a VirtualService; targets
// sharing a host in a namespace share its ServiceEntry and VirtualService. Pure.
// `render`, `provision` and `doctor` all use this one function.
import { certFiles, DEFAULT_INSTANCE, hostResourceName, INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGER, resourceName, TARGET_LABEL, targetPodLabel } from '../base/names.ts'
import { byHost, type Config, type Target } from '../config/config.ts'

export const ISTIO_API_VERSION = 'networking.istio.io/v1'
export const ISTIO_GROUP = 'networking.istio.io'
export const ISTIO_VERSION = 'v1'

/** The kinds egress-mtls provisions, in the order they are rendered and applied. */
export const ISTIO_KINDS = ['ServiceEntry', 'DestinationRule', 'VirtualService'] as const
export type IstioKind = typeof ISTIO_KINDS[number]

/** The URL plural of each kind (…/namespaces/NS/<plural>). */
export const ISTIO_PLURALS: Readonly<Record<IstioKind, string>> = {
  ServiceEntry: 'serviceentries',
  DestinationRule: 'destinationrules',
  VirtualService: 'virtualservices',
}

export interface IstioObject {
  readonly apiVersion: typeof ISTIO_API_VERSION
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

/** What `render` and `provision` (and `doctor`) say about a configuration that weakens TLS. */
export function renderWarnings (config: Config): string[] {
  return config.targets.filter((t) => !t.verifyServerName).map((t) =>
    `target ${t.name}: verifyServerName is false: the sidecar accepts any server certificate signed by the CA in its cacert, whatever name it carries (not only ${t.sni})`)
}

/**
 * Every object of the configuration, ordered by namespace, name, then kind. Per namespace,
 * targets of one host share one ServiceEntry (and VirtualService) named after the host
 * (renderHost); a target alone on its host gets its own, as it always did.
 */
export function render (config: Config, instance: string = DEFAULT_INSTANCE): IstioObject[] {
  const out: IstioObject[] = []
  for (const [namespace, targets] of homes(config)) {
    for (const group of byHost(targets)) out.push(...renderHost(config, group, namespace, instance))
  }
  const kindOrder = (k: IstioKind): number => ISTIO_KINDS.indexOf(k)
  return out.sort((a, b) =>
    compare(a.metadata.namespace, b.metadata.namespace) ||
    compare(a.metadata.name, b.metadata.name) ||
    kindOrder(a.kind) - kindOrder(b.kind))
}

const compare = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0

/** namespace → the targets whose resources live there, in configuration order. */
function homes (config: Config): Map<string, Target[]> {
  const out = new Map<string, Target[]>()
  for (const target of config.targets) {
    for (const namespace of targetNamespaces(config, target)) out.set(namespace, [...out.get(namespace) ?? [], target])
  }
  return out
}

/**
 * The objects of the targets of one host in one namespace. One target: renderTarget. Several
 * (the configuration allows it only for namespaced targets with workloadSelector, agreeing on
 * ports): one ServiceEntry (and VirtualService) named hostResourceName(host), carrying the
 * instance's ownership labels but no target label (it is every one of theirs), then each
 * target's DestinationRule, selecting its own pods.
 */
export function renderHost (config: Config, targets: readonly Target[], namespace: string, instance: string = DEFAULT_INSTANCE): IstioObject[] {
  const [first] = targets
  if (first === undefined) return []
  if (targets.length === 1) return renderTarget(config, first, namespace, instance)
  const shared = { name: hostResourceName(first.host), namespace, labels: ownershipLabels(undefined, instance) }
  const host = hostObjects(config, first, shared)
  return [host.serviceEntry, ...targets.map((t) => destinationRule(config, t, targetMetadata(t, namespace, instance))), ...host.virtualService]
}

/** The objects of one target in one namespace (meshRootNamespace for a mesh-wide target). */
export function renderTarget (config: Config, target: Target, namespace: string, instance: string = DEFAULT_INSTANCE): IstioObject[] {
  const metadata = targetMetadata(target, namespace, instance)
  const host = hostObjects(config, target, metadata)
  return [host.serviceEntry, destinationRule(config, target, metadata), ...host.virtualService]
}

/**
 * Whether a rendered object serves `target`: it is the target's own (its target label), or
 * it is a host's shared one (no target label) for the target's host.
 */
export function serves (o: IstioObject, target: Target): boolean {
  const owner = o.metadata.labels[TARGET_LABEL]
  if (owner !== undefined) return owner === target.name
  const hosts = o.spec['hosts']
  return Array.isArray(hosts) && hosts.includes(target.host)
}

type Metadata = IstioObject['metadata']

const targetMetadata = (target: Target, namespace: string, instance: string): Metadata =>
  ({ name: resourceName(target.name), namespace, labels: ownershipLabels(target.name, instance) })

const exportTo = (target: Target): string[] => target.namespaces.includes('*') ? ['*'] : ['.']

const object = (kind: IstioKind, metadata: Metadata, spec: Record<string, unknown>): IstioObject =>
  ({ apiVersion: ISTIO_API_VERSION, kind, metadata, spec })

/** The ServiceEntry and (routing: virtualService) the VirtualService of a target's host. */
function hostObjects (config: Config, target: Target, metadata: Metadata): { serviceEntry: IstioObject, virtualService: IstioObject[] } {
  const viaVirtualService = config.routing === 'virtualService'
  const serviceEntry = object('ServiceEntry', metadata, {
    hosts: [target.host],
    exportTo: exportTo(target),
    location: 'MESH_EXTERNAL',
    resolution: 'DNS',
    ports: [
      { number: target.plainPort, name: 'http', protocol: 'HTTP', ...(viaVirtualService ? {} : { targetPort: target.port }) },
      { number: target.port, name: 'https', protocol: 'HTTPS' },
    ],
  })
  if (!viaVirtualService) return { serviceEntry, virtualService: [] }
  const virtualService = object('VirtualService', metadata, {
    hosts: [target.host],
    exportTo: exportTo(target),
    http: [{
      match: [{ port: target.plainPort }],
      route: [{ destination: { host: target.host, port: { number: target.port } } }],
    }],
  })
  return { serviceEntry, virtualService: [virtualService] }
}

function destinationRule (config: Config, target: Target, metadata: Metadata): IstioObject {
  const meshWide = target.namespaces.includes('*')
  const viaVirtualService = config.routing === 'virtualService'
  const files = certFiles(config.mountRoot, target.name)
  const names = serverNames(target)
  const tls = {
    mode: 'MUTUAL',
    clientCertificate: files.cert,
    privateKey: files.key,
    caCertificates: files.cacert,
    sni: target.sni,
    ...(names.length > 0 ? { subjectAltNames: names } : {}),
  }
  return object('DestinationRule', metadata, {
    host: target.host,
    exportTo: exportTo(target),
    ...(config.workloadSelector && !meshWide ? { workloadSelector: { matchLabels: { [targetPodLabel(target.name)]: 'true' } } } : {}),
    trafficPolicy: {
      portLevelSettings: [{
        port: { number: viaVirtualService ? target.port : target.plainPort },
        ...(target.maxConnectionDuration === undefined ? {} : { connectionPool: { tcp: { maxConnectionDuration: target.maxConnectionDuration } } }),
        tls,
      }],
    },
  })
}
