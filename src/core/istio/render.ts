// The Istio resources of docs/design.md "Istio resources": per target and namespace, a
// ServiceEntry, a DestinationRule and (routing: virtualService) a VirtualService; for an
// egressGateway target, what gateway.ts renders. Pure.
// `render`, `provision` and `doctor` all use this one function.
import { certFiles, DEFAULT_INSTANCE, resourceName, targetPodLabel } from '../base/names.ts'
import type { Config, Target } from '../config/config.ts'
import { gatewaySideName, renderGatewayClient, renderGatewaySide } from './gateway.ts'
import { ISTIO_KINDS, type IstioKind, type IstioObject, istioObject, serverNames, serviceEntrySpec, targetNamespaces } from './objects.ts'

export {
  instanceSelector, ISTIO_API_VERSION, ISTIO_GROUP, ISTIO_GROUPS, ISTIO_KINDS, ISTIO_PLURALS, ISTIO_VERSION, type IstioKind, type IstioObject,
  istioPath, OWNED_SELECTOR, ownedBy, ownershipLabels, serverNames, targetNamespaces,
} from './objects.ts'

/** What `render` and `provision` (and `doctor`) say about a configuration that weakens TLS. */
export function renderWarnings (config: Config): string[] {
  return config.targets.filter((t) => !t.verifyServerName).map((t) =>
    `target ${t.name}: verifyServerName is false: the ${t.origination === 'egressGateway' ? 'egress gateway' : 'sidecar'} accepts any server certificate signed by the CA in its cacert, whatever name it carries (not only ${t.sni})`)
}

/**
 * Every object of the configuration: first what egressGateway targets need at the gateway,
 * then their hop to it, then the rest (the order provision applies them in, so a target
 * moved to the gateway never routes to something not there yet); each part ordered by
 * namespace, name, then kind.
 */
export function render (config: Config, instance: string = DEFAULT_INSTANCE): IstioObject[] {
  const atGateway: IstioObject[] = []
  const hops: IstioObject[] = []
  const rest: IstioObject[] = []
  for (const target of config.targets) {
    for (const namespace of targetNamespaces(config, target)) {
      if (target.origination === 'sidecar') {
        rest.push(...renderTarget(config, target, namespace, instance))
      } else {
        const client = renderGatewayClient(config, target, namespace, instance)
        hops.push(client.hop)
        rest.push(...client.route)
      }
    }
    if (target.origination === 'egressGateway') atGateway.push(...renderGatewaySide(config, target, instance))
  }
  return [...sorted(atGateway), ...sorted(hops), ...sorted(rest)]
}

/**
 * What a workload of `namespace` needs for `target` (`namespace` being one of the target's,
 * or the mesh root for a mesh-wide one): its objects there and, for an egressGateway target,
 * those at the gateway. What `doctor` expects to find.
 */
export function targetObjects (config: Config, target: Target, namespace: string, instance: string = DEFAULT_INSTANCE): IstioObject[] {
  if (target.origination === 'sidecar') return renderTarget(config, target, namespace, instance)
  const client = renderGatewayClient(config, target, namespace, instance)
  return [...renderGatewaySide(config, target, instance), client.hop, ...client.route]
}

export { gatewaySideName }

const kindOrder = (k: IstioKind): number => ISTIO_KINDS.indexOf(k)
const sorted = (objects: IstioObject[]): IstioObject[] => objects.sort((a, b) =>
  compare(a.metadata.namespace, b.metadata.namespace) ||
  compare(a.metadata.name, b.metadata.name) ||
  kindOrder(a.kind) - kindOrder(b.kind))

const compare = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0

/** The objects of one target in one namespace (meshRootNamespace for a mesh-wide target). */
export function renderTarget (config: Config, target: Target, namespace: string, instance: string = DEFAULT_INSTANCE): IstioObject[] {
  const meshWide = target.namespaces.includes('*')
  const exportTo = meshWide ? ['*'] : ['.']
  const object = istioObject(target, namespace, resourceName(target.name), instance)
  const viaVirtualService = config.routing === 'virtualService'
  const files = certFiles(config.mountRoot, target.name)

  const serviceEntry = object('ServiceEntry', serviceEntrySpec(config, target, exportTo))

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
