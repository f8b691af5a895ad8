// The Istio resources of docs/design.md "Istio resources": per target and namespace, a
// ServiceEntry, a DestinationRule and (routing: virtualService) a VirtualService. Pure.
// `render`, `provision` and `doctor` all use this one function.
import { certFiles, DEFAULT_INSTANCE, INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGER, resourceName, TARGET_LABEL, targetPodLabel } from '../base/names.ts'
import type { Config, Target } from '../config/config.ts'

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

/** The labels that mark an object as owned by one instance of egress-mtls. */
export function ownershipLabels (target: string, instance: string = DEFAULT_INSTANCE): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGER, [INSTANCE_LABEL]: instance, [TARGET_LABEL]: target }
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

/** Every object of the configuration, ordered by namespace, target, then kind. */
export function render (config: Config, instance: string = DEFAULT_INSTANCE): IstioObject[] {
  const out: IstioObject[] = []
  for (const target of config.targets) {
    for (const namespace of targetNamespaces(config, target)) out.push(...renderTarget(config, target, namespace, instance))
  }
  const kindOrder = (k: IstioKind): number => ISTIO_KINDS.indexOf(k)
  return out.sort((a, b) =>
    compare(a.metadata.namespace, b.metadata.namespace) ||
    compare(a.metadata.name, b.metadata.name) ||
    kindOrder(a.kind) - kindOrder(b.kind))
}

const compare = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0

/** The objects of one target in one namespace (meshRootNamespace for a mesh-wide target). */
export function renderTarget (config: Config, target: Target, namespace: string, instance: string = DEFAULT_INSTANCE): IstioObject[] {
  const meshWide = target.namespaces.includes('*')
  const exportTo = meshWide ? ['*'] : ['.']
  const object = (kind: IstioKind, spec: Record<string, unknown>): IstioObject => ({
    apiVersion: ISTIO_API_VERSION,
    kind,
    metadata: { name: resourceName(target.name), namespace, labels: ownershipLabels(target.name, instance) },
    spec,
  })
  const viaVirtualService = config.routing === 'virtualService'
  const files = certFiles(config.mountRoot, target.name)

  const serviceEntry = object('ServiceEntry', {
    hosts: [target.host],
    exportTo,
    location: 'MESH_EXTERNAL',
    resolution: 'DNS',
    ports: [
      { number: target.plainPort, name: 'http', protocol: 'HTTP', ...(viaVirtualService ? {} : { targetPort: target.port }) },
      { number: target.port, name: 'https', protocol: 'HTTPS' },
    ],
  })

  const names = serverNames(target)
  const tls = {
    mode: 'MUTUAL',
    clientCertificate: files.cert,
    privateKey: files.key,
    caCertificates: files.cacert,
    sni: target.sni,
    ...(names.length > 0 ? { subjectAltNames: names } : {}),
  }
  const destinationRule = object('DestinationRule', {
    host: target.host,
    exportTo,
    ...(config.workloadSelector && !meshWide ? { workloadSelector: { matchLabels: { [targetPodLabel(target.name)]: 'true' } } } : {}),
    trafficPolicy: {
      portLevelSettings: [{
        port: { number: viaVirtualService ? target.port : target.plainPort },
        ...(target.maxConnectionDuration === undefined ? {} : { connectionPool: { tcp: { maxConnectionDuration: target.maxConnectionDuration } } }),
        tls,
      }],
    },
  })
  if (!viaVirtualService) return [serviceEntry, destinationRule]

  const virtualService = object('VirtualService', {
    hosts: [target.host],
    exportTo,
    http: [{
      match: [{ port: target.plainPort }],
      route: [{ destination: { host: target.host, port: { number: target.port } } }],
    }],
  })
  return [serviceEntry, destinationRule, virtualService]
}
