// The objects of an `origination: waypoint` target (docs/design.md "Origination at a
// waypoint"): in ambient mode ztunnel carries the workload's plain call to the waypoint that
// serves the host's ServiceEntry, and the waypoint originates the mutual TLS with the Secret
// of its own namespace (credentialName). Pure.
import { MANAGER, resourceName } from '../base/names.ts'
import type { Config, Target } from '../config/config.ts'
import {
  credentialOrigination, GATEWAY_API_VERSION, type IstioObject, istioObject, ownershipLabels, RBAC_API_VERSION, serviceEntrySpec,
  targetNamespaces,
} from './objects.ts'

/** Istio's label binding a ServiceEntry to the waypoint (of its own namespace) that serves it. */
export const USE_WAYPOINT_LABEL = 'istio.io/use-waypoint'
/** Istio's label saying which traffic a waypoint serves. */
export const WAYPOINT_FOR_LABEL = 'istio.io/waypoint-for'
/** The GatewayClass of Istio's waypoints. */
export const WAYPOINT_CLASS = 'istio-waypoint'
/** The waypoint's HBONE listener, as `istioctl waypoint generate` writes it. */
export const HBONE_PORT = 15008

/** The name of the Role (and RoleBinding) that lets the waypoint read the Secrets of its namespace. */
export const waypointReaderName = (config: Config): string => `${MANAGER}-${config.waypoint.name}-secrets`

/**
 * A waypoint target's objects, all in the waypoint's namespace, in the order provision applies
 * them (the ServiceEntry, which binds the host to the waypoint, last):
 * - unless the target is mesh-wide, an AuthorizationPolicy attached to the ServiceEntry that
 *   allows only the target's namespaces (an ALLOW policy on a ServiceEntry denies every other
 *   source; other hosts of the waypoint are untouched);
 * - the DestinationRule that originates on the plain port MUTUAL with the Secret
 *   (`credentialName`), `sni` and `subjectAltNames`, exported to the waypoint's namespace only
 *   (the waypoint applies it);
 * - the ServiceEntry of the host, labelled `istio.io/use-waypoint` (the waypoint serves it)
 *   and exported to the target's namespaces (and its own): the plain port, routed to the TLS
 *   port (targetPort, whatever `routing` says), and the TLS port, as in sidecar mode.
 */
export function renderWaypointTarget (config: Config, target: Target, instance: string): IstioObject[] {
  const { namespace } = config.waypoint
  const name = resourceName(target.name)
  const object = istioObject(target, namespace, name, instance)
  const meshWide = target.namespaces.includes('*')
  const exportTo = meshWide ? ['*'] : [...new Set(['.', ...targetNamespaces(config, target).filter((n) => n !== namespace)])]
  const serviceEntry = object('ServiceEntry', serviceEntrySpec({ ...config, routing: 'targetPort' }, target, exportTo))
  const out: IstioObject[] = []
  if (!meshWide) {
    out.push(object('AuthorizationPolicy', {
      targetRefs: [{ kind: 'ServiceEntry', group: 'networking.istio.io', name }],
      action: 'ALLOW',
      rules: [{ from: [{ source: { namespaces: [...target.namespaces] } }] }],
    }))
  }
  out.push(object('DestinationRule', credentialOrigination(target, target.plainPort, ['.'])))
  const labels = { ...serviceEntry.metadata.labels, [USE_WAYPOINT_LABEL]: config.waypoint.name }
  out.push({ ...serviceEntry, metadata: { ...serviceEntry.metadata, labels } })
  return out
}

/**
 * What the waypoint itself needs, once for every waypoint target: a Role and RoleBinding
 * letting its ServiceAccount (Istio names it after the waypoint) get, list and watch the
 * Secrets of its own namespace (istiod serves a credentialName only to a proxy whose
 * ServiceAccount may list them there; Istio creates no such Role for a waypoint), and with
 * `waypoint.create` the waypoint: a Gateway API Gateway of class istio-waypoint for
 * services, with the HBONE listener of `istioctl waypoint generate` (and the default
 * `allowedRoutes` the API server would add).
 */
export function renderWaypoint (config: Config, instance: string): IstioObject[] {
  const { name, namespace } = config.waypoint
  const labels = ownershipLabels(undefined, instance)
  const metadata = { name: waypointReaderName(config), namespace, labels }
  const out: IstioObject[] = [
    { apiVersion: RBAC_API_VERSION, kind: 'Role', metadata, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }] },
    {
      apiVersion: RBAC_API_VERSION,
      kind: 'RoleBinding',
      metadata,
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: waypointReaderName(config) },
    },
  ]
  if (config.waypoint.create) {
    out.push({
      apiVersion: GATEWAY_API_VERSION,
      kind: 'Gateway',
      metadata: { name, namespace, labels: { ...labels, [WAYPOINT_FOR_LABEL]: 'service' } },
      // allowedRoutes: the default the Gateway API's schema gives a listener, written so that the stored object is the rendered one.
      spec: { gatewayClassName: WAYPOINT_CLASS, listeners: [{ name: 'mesh', port: HBONE_PORT, protocol: 'HBONE', allowedRoutes: { namespaces: { from: 'Same' } } }] },
    })
  }
  return out
}
