// The Istio resources of docs/design.md "Istio resources": per target and namespace, a
// ServiceEntry, a DestinationRule and (routing: virtualService) a VirtualService; sidecar
// targets sharing a host in a namespace share its ServiceEntry and VirtualService; for an
// egressGateway target, what gateway.ts renders; for a waypoint target, what waypoint.ts renders. Pure.
// `render`, `provision` and `doctor` all use this one function.
import { certFiles, DEFAULT_INSTANCE, hostResourceName, resourceName, TARGET_LABEL, targetPodLabel } from '../base/names.ts'
import { byHost, type Config, type Target } from '../config/config.ts'
import { gatewaySideName, renderGatewayClient, renderGatewaySide } from './gateway.ts'
import { connectionPool, type IstioObject, istioObject, RESOURCES, serverNames, serviceEntrySpec, targetNamespaces } from './objects.ts'
import { renderWaypoint, renderWaypointTarget } from './waypoint.ts'

export {
  GATEWAY_API_VERSION, instanceSelector, ISTIO_API_VERSION, ISTIO_GROUP, ISTIO_GROUPS, ISTIO_KINDS, ISTIO_PLURALS, ISTIO_VERSION,
  type IstioKind, type IstioObject, istioPath, type ObjectKind, objectPath, OWNED_SELECTOR, ownedBy, ownershipLabels, RBAC_API_VERSION,
  type Resource, resourceOf,
  resourcePath, RESOURCES, serverNames, targetNamespaces,
} from './objects.ts'

/** What `render` and `provision` (and `doctor`) say about a configuration that weakens TLS. */
export function renderWarnings (config: Config): string[] {
  return config.targets.filter((t) => !t.verifyServerName).map((t) =>
    `target ${t.name}: verifyServerName is false: the ${ORIGINATOR[t.origination]} accepts any server certificate signed by the CA in its cacert, whatever name it carries (not only ${t.sni})`)
}

const ORIGINATOR = { sidecar: 'sidecar', egressGateway: 'egress gateway', waypoint: 'waypoint' } as const

/**
 * Every object of the configuration: first what waypoint targets need (the waypoint's Secret
 * reader, the waypoint when created, then per target, by name, its AuthorizationPolicy and
 * DestinationRule before the ServiceEntry that binds the host to the waypoint: the host is
 * never served by the waypoint without its TLS origination and its policy), then what
 * egressGateway targets need at the gateway, then their hop to it, then the rest (the order
 * provision applies them in, so a target moved to the gateway never routes to something not
 * there yet); each but the first ordered by namespace, name, then kind. Per namespace, sidecar targets of one host share one
 * ServiceEntry (and VirtualService) named after the host (renderHost); a target alone on its
 * host gets its own, as it always did.
 */
export function render (config: Config, instance: string = DEFAULT_INSTANCE): IstioObject[] {
  const atWaypoint: IstioObject[] = []
  const atGateway: IstioObject[] = []
  const hops: IstioObject[] = []
  const rest: IstioObject[] = []
  const sidecar = new Map<string, Target[]>() // namespace → its sidecar targets, in configuration order
  for (const target of config.targets) {
    if (target.origination === 'waypoint') continue
    for (const namespace of targetNamespaces(config, target)) {
      if (target.origination === 'sidecar') {
        sidecar.set(namespace, [...sidecar.get(namespace) ?? [], target])
      } else {
        const client = renderGatewayClient(config, target, namespace, instance)
        hops.push(client.hop)
        rest.push(...client.route)
      }
    }
    if (target.origination === 'egressGateway') atGateway.push(...renderGatewaySide(config, target, instance))
  }
  for (const [namespace, targets] of sidecar) {
    for (const group of byHost(targets)) rest.push(...renderHost(config, group, namespace, instance))
  }
  const waypointTargets = config.targets.filter((t) => t.origination === 'waypoint').sort((a, b) => compare(a.name, b.name))
  if (waypointTargets.length > 0) {
    atWaypoint.push(...renderWaypoint(config, instance), ...waypointTargets.flatMap((t) => renderWaypointTarget(config, t, instance)))
  }
  return [...atWaypoint, ...sorted(atGateway), ...sorted(hops), ...sorted(rest)]
}

/**
 * What a workload of `namespace` needs for `target` (`namespace` being one of the target's,
 * or the mesh root for a mesh-wide one): its objects there and, for an egressGateway target,
 * those at the gateway. What `doctor` expects to find.
 */
export function targetObjects (config: Config, target: Target, namespace: string, instance: string = DEFAULT_INSTANCE): IstioObject[] {
  if (target.origination === 'sidecar') {
    // Its own objects, and those of its host that it shares with the sidecar targets meeting it there.
    const meeting = config.targets.filter((t) => t.origination === 'sidecar' && t.host === target.host && targetNamespaces(config, t).includes(namespace))
    return renderHost(config, meeting, namespace, instance).filter((o) => serves(o, target))
  }
  if (target.origination === 'waypoint') return [...renderWaypoint(config, instance), ...renderWaypointTarget(config, target, instance)]
  const client = renderGatewayClient(config, target, namespace, instance)
  return [...renderGatewaySide(config, target, instance), client.hop, ...client.route]
}

export { gatewaySideName }

const kindOrder = (o: IstioObject): number => RESOURCES.findIndex((r) => r.apiVersion === o.apiVersion && r.kind === o.kind)
const sorted = (objects: IstioObject[]): IstioObject[] => objects.sort((a, b) =>
  compare(a.metadata.namespace, b.metadata.namespace) ||
  compare(a.metadata.name, b.metadata.name) ||
  kindOrder(a) - kindOrder(b))

const compare = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0

/**
 * The objects of the sidecar targets of one host in one namespace. One target: renderTarget.
 * Several (the configuration allows it only for namespaced sidecar targets with
 * workloadSelector, agreeing on ports): one ServiceEntry (and VirtualService) named
 * hostResourceName(host), carrying the instance's ownership labels but no target label (it is
 * every one of theirs), then each target's DestinationRule, selecting its own pods.
 */
export function renderHost (
  config: Config, targets: readonly Target[], namespace: string, instance: string = DEFAULT_INSTANCE,
): IstioObject[] {
  const [first] = targets
  if (first === undefined) return []
  if (targets.length === 1) return renderTarget(config, first, namespace, instance)
  const host = hostObjects(config, first, istioObject(undefined, namespace, hostResourceName(first.host), instance))
  return [host.serviceEntry, ...targets.map((t) => destinationRule(config, t, namespace, instance)), ...host.virtualService]
}

/** The objects of one target in one namespace (meshRootNamespace for a mesh-wide target). */
export function renderTarget (config: Config, target: Target, namespace: string, instance: string = DEFAULT_INSTANCE): IstioObject[] {
  const host = hostObjects(config, target, istioObject(target, namespace, resourceName(target.name), instance))
  return [host.serviceEntry, destinationRule(config, target, namespace, instance), ...host.virtualService]
}

/**
 * Whether a rendered object serves `target`: it is the target's own (its target label), or
 * it is a host's shared one (no target label) for the target's host.
 */
export function serves (o: IstioObject, target: Target): boolean {
  const owner = o.metadata.labels[TARGET_LABEL]
  if (owner !== undefined) return owner === target.name
  const hosts = o.spec?.['hosts']
  return Array.isArray(hosts) && hosts.includes(target.host)
}

const exportTo = (target: Target): string[] => target.namespaces.includes('*') ? ['*'] : ['.']

/** The ServiceEntry and (routing: virtualService) the VirtualService of a sidecar target's host, made by `object`. */
function hostObjects (
  config: Config, target: Target, object: ReturnType<typeof istioObject>,
): { serviceEntry: IstioObject, virtualService: IstioObject[] } {
  const serviceEntry = object('ServiceEntry', serviceEntrySpec(config, target, exportTo(target)))
  if (config.routing !== 'virtualService') return { serviceEntry, virtualService: [] }
  const virtualService = object('VirtualService', {
    hosts: [target.host],
    exportTo: exportTo(target),
    http: [{
      match: [{ port: target.plainPort }],
      route: [{ destination: { host: target.host, port: { number: target.port } } }],
    }],
  })
  return { serviceEntry, virtualService: [virtualService] }
}

/** A sidecar target's DestinationRule: mutual TLS with the mounted files, for its own pods. */
function destinationRule (config: Config, target: Target, namespace: string, instance: string): IstioObject {
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
  return istioObject(target, namespace, resourceName(target.name), instance)('DestinationRule', {
    host: target.host,
    exportTo: exportTo(target),
    ...(config.workloadSelector && !meshWide ? { workloadSelector: { matchLabels: { [targetPodLabel(target.name)]: 'true' } } } : {}),
    trafficPolicy: {
      portLevelSettings: [{
        port: { number: viaVirtualService ? target.port : target.plainPort },
        ...connectionPool(target),
        tls,
      }],
    },
  })
}
