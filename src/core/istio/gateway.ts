// The Istio resources of an `origination: egressGateway` target (docs/design.md
// "Origination at an egress gateway"): the sidecars of opted-in workloads send the plain
// call over ISTIO_MUTUAL to the egress gateway, which originates the mutual TLS with the
// Secret of its own namespace (credentialName). Pure.
import { resourceName, targetPodLabel } from '../base/names.ts'
import type { Config, Target } from '../config/config.ts'
import { credentialOrigination, type IstioObject, istioObject, serviceEntrySpec, targetNamespaces } from './objects.ts'

/** Name of the objects of a target in the gateway's namespace (an Istio Gateway's name is a DNS label). */
export const gatewaySideName = (target: string): string => `${resourceName(target)}-gateway`
/** Name of the DestinationRule of the hop from a workload's sidecar to the gateway. */
export const hopName = (target: string): string => `${resourceName(target)}-hop`

/** Where the workloads of a namespace are: the route to the gateway, and the hop's DestinationRule. */
export interface GatewayClient {
  readonly hop: IstioObject
  readonly route: readonly IstioObject[]
}

/** The status and body an unlabelled workload's sidecar answers a call to the target with. */
export const NOT_OPTED_IN_STATUS = 403
export const notOptedInBody = (target: Target): string =>
  `egress-mtls: this workload is not opted in to target ${target.name} (label egress-mtls.io/inject, or egress-mtls.io/targets)\n`

/**
 * In a namespace of the target (the mesh root for a mesh-wide one): the ServiceEntry (as in
 * sidecar mode, so a move between modes leaves it alone), a VirtualService sending
 * `plainPort` from the sidecars of labelled pods to the gateway and answering any other
 * pod's call with 403 itself, and the DestinationRule of that hop (ISTIO_MUTUAL, SNI the
 * host: the gateway's server for it).
 */
export function renderGatewayClient (config: Config, target: Target, namespace: string, instance: string): GatewayClient {
  const gateway = config.egressGateway
  const exportTo = target.namespaces.includes('*') ? ['*'] : ['.']
  const object = istioObject(target, namespace, resourceName(target.name), instance)
  const subset = resourceName(target.name)
  const hop = istioObject(target, namespace, hopName(target.name), instance)('DestinationRule', {
    host: gateway.service,
    exportTo,
    subsets: [{
      name: subset,
      trafficPolicy: { portLevelSettings: [{ port: { number: gateway.port }, tls: { mode: 'ISTIO_MUTUAL', sni: target.host } }] },
    }],
  })
  const virtualService = object('VirtualService', {
    hosts: [target.host],
    exportTo,
    http: [
      {
        name: 'opted-in',
        match: [{ port: target.plainPort, sourceLabels: { [targetPodLabel(target.name)]: 'true' } }],
        route: [{ destination: { host: gateway.service, subset, port: { number: gateway.port } } }],
      },
      {
        name: 'not-opted-in',
        match: [{ port: target.plainPort }],
        directResponse: { status: NOT_OPTED_IN_STATUS, body: { string: notOptedInBody(target) } },
      },
    ],
  })
  return { hop, route: [object('ServiceEntry', serviceEntrySpec(config, target, exportTo)), virtualService] }
}

/**
 * In the gateway's namespace, exported there only: the ServiceEntry of the host's TLS port
 * (unless the target's own is there already), a Gateway serving the host on the gateway's
 * port (ISTIO_MUTUAL: only sidecars of the mesh), the VirtualService from that Gateway to
 * `host:port`, the DestinationRule that originates the mutual TLS with the Secret
 * (`credentialName`), and, unless the target is mesh-wide, an AuthorizationPolicy that
 * denies the host's server (its SNI) to every other source namespace (DENY: the shared
 * gateway keeps serving everything else as before).
 */
export function renderGatewaySide (config: Config, target: Target, instance: string): IstioObject[] {
  const gateway = config.egressGateway
  const name = gatewaySideName(target.name)
  const object = istioObject(target, gateway.namespace, name, instance)
  const exportTo = ['.']
  const out: IstioObject[] = []
  if (!targetNamespaces(config, target).includes(gateway.namespace)) {
    out.push(object('ServiceEntry', {
      hosts: [target.host],
      exportTo,
      location: 'MESH_EXTERNAL',
      resolution: 'DNS',
      ports: [{ number: target.port, name: 'https', protocol: 'HTTPS' }],
    }))
  }
  out.push(object('Gateway', {
    selector: { ...gateway.selector },
    servers: [{
      port: { number: gateway.port, name: `https-${resourceName(target.name)}`, protocol: 'HTTPS' },
      hosts: [`./${target.host}`],
      tls: { mode: 'ISTIO_MUTUAL' },
    }],
  }))
  out.push(object('VirtualService', {
    hosts: [target.host],
    gateways: [name],
    exportTo,
    http: [{ route: [{ destination: { host: target.host, port: { number: target.port } } }] }],
  }))
  out.push(object('DestinationRule', credentialOrigination(target, target.port, exportTo)))
  if (!target.namespaces.includes('*')) {
    // Keyed on the connection's SNI (the host's server, whatever Host header the requests on
    // it carry), never on HTTP attributes: Istio turns a DENY rule's HTTP-only conditions
    // into "deny all" on the gateway's TCP filter chains, which would refuse every other
    // team's TLS passthrough.
    out.push(object('AuthorizationPolicy', {
      selector: { matchLabels: { ...gateway.selector } },
      action: 'DENY',
      rules: [{ from: [{ source: { notNamespaces: [...target.namespaces] } }], when: [{ key: 'connection.sni', values: [target.host] }] }],
    }))
  }
  return out
}
