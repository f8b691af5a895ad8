// Istio tier, origination at an ambient waypoint: Istio's own validation and its
// configuration generation for the WAYPOINT proxy (istio-check waypoint: the xDS fake
// discovery server and ambient index of Istio's waypoint tests, scripts/istio/waypoint.go)
// judge what egress-mtls renders for an `origination: waypoint` target. The waypoint is the
// Gateway of class istio-waypoint, deployed as istiod and Kubernetes would deploy it.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { matchingPolicies, rbacAction, type Request } from './envoy-rbac.ts'
import {
  BUILD_TIMEOUT_MS, type EnvoyCluster, type EnvoyListener, istioCheckBinary, type UpstreamTlsContext, validate, waypoint, type WaypointConfig, yamlDocuments,
} from './istio-check.ts'

await test('istio-check is built (or found in the cache)', { timeout: BUILD_TIMEOUT_MS }, async () => {
  await istioCheckBinary()
})

const HOST = 'api.bank.example.com'
const WAYPOINT = { name: 'waypoint', namespace: 'egress' }
const TLS_CONTEXT = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext'
const INTERNAL_UPSTREAM = 'type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport'

interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string> }
  spec: Record<string, unknown>
}

/** The objects of a waypoint target (hand-written to the contract until render has them). */
function rendered (extra: { sni?: string, subjectAltNames?: string[] } = {}): K8sObject[] {
  const meta = (name: string, labels: Record<string, string> = {}): K8sObject['metadata'] =>
    ({ name, namespace: WAYPOINT.namespace, labels: { 'app.kubernetes.io/managed-by': 'egress-mtls', ...labels } })
  return [
    {
      apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: meta('egress-mtls-bank-api', { 'istio.io/use-waypoint': WAYPOINT.name }),
      spec: {
        hosts: [HOST], exportTo: ['.', 'payments'], location: 'MESH_EXTERNAL', resolution: 'DNS',
        ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 443 }],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: meta('egress-mtls-bank-api'),
      spec: {
        host: HOST, exportTo: ['.'],
        trafficPolicy: {
          portLevelSettings: [{
            port: { number: 80 },
            tls: { mode: 'MUTUAL', credentialName: 'bank-api-mtls', sni: extra.sni ?? HOST, subjectAltNames: extra.subjectAltNames ?? [HOST] },
          }],
        },
      },
    },
    {
      apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: meta('egress-mtls-bank-api'),
      spec: {
        targetRefs: [{ group: 'networking.istio.io', kind: 'ServiceEntry', name: 'egress-mtls-bank-api' }],
        action: 'ALLOW',
        rules: [{ from: [{ source: { namespaces: ['payments'] } }] }],
      },
    },
    {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: meta(WAYPOINT.name, { 'istio.io/waypoint-for': 'service' }),
      spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    },
  ]
}

const theWaypoint = (all: readonly WaypointConfig[]): WaypointConfig => {
  assert.deepEqual(all.map((w) => `${w.namespace}/${w.name}`), [`${WAYPOINT.namespace}/${WAYPOINT.name}`])
  return all[0]!
}
const cluster = (w: WaypointConfig, name: string): EnvoyCluster | undefined => w.clusters.find((c) => c.name === name)
/** The TLS context a waypoint cluster originates with: inside the internal upstream socket that carries the metadata of the HBONE side. */
const tlsOf = (c: EnvoyCluster): UpstreamTlsContext => {
  assert.ok(c.transport_socket, `${c.name}: a transport socket`)
  assert.equal(c.transport_socket.typed_config['@type'], INTERNAL_UPSTREAM)
  const inner = (c.transport_socket.typed_config as unknown as { transport_socket?: { typed_config?: UpstreamTlsContext & { '@type': string } } }).transport_socket?.typed_config
  assert.ok(inner, `${c.name}: a socket inside the internal upstream one`)
  assert.equal(inner['@type'], TLS_CONTEXT)
  return inner
}
const VIP_CLUSTER = `inbound-vip|80|http|${HOST}`

test('istiod accepts every object of waypoint mode with no error and no warning', async () => {
  const objects = [...rendered(), ...rendered({ sni: 'front.bank.example.com', subjectAltNames: ['bank.example.com'] })]
  const verdicts = await validate(yamlDocuments(objects))
  assert.equal(verdicts.length, objects.length)
  for (const [i, v] of verdicts.entries()) {
    const o = objects[i]!
    assert.deepEqual({ allowed: v.allowed, message: v.message, warnings: v.warnings }, { allowed: true, message: undefined, warnings: [] },
      `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}: ${JSON.stringify(o.spec)}`)
  }
  assert.deepEqual(new Set(objects.map((o) => o.kind)), new Set(['AuthorizationPolicy', 'ServiceEntry', 'DestinationRule', 'Gateway']))
})

test('the ServiceEntry is bound to the waypoint, and is not without its use-waypoint label', async () => {
  const bound = theWaypoint(await waypoint(rendered()))
  assert.deepEqual(bound.services, [`${WAYPOINT.namespace}/${HOST}`])
  assert.ok(cluster(bound, VIP_CLUSTER), `a cluster ${VIP_CLUSTER} among ${bound.clusters.map((c) => c.name).join(', ')}`)
  const unlabelled = rendered().map((o) => o.kind === 'ServiceEntry' ? { ...o, metadata: { ...o.metadata, labels: {} } } : o)
  const unbound = theWaypoint(await waypoint(unlabelled))
  assert.deepEqual(unbound.services, [])
  assert.equal(cluster(unbound, VIP_CLUSTER), undefined)
})

test('the waypoint proxy: a cluster for the host whose TLS takes certificate and CA from the Secret by SDS, with SNI and the server\'s name', async () => {
  for (const extra of [{}, { sni: 'front.bank.example.com', subjectAltNames: ['bank.example.com'] }]) {
    const w = theWaypoint(await waypoint(rendered(extra)))
    const c = cluster(w, VIP_CLUSTER)
    assert.ok(c, `a cluster ${VIP_CLUSTER} among ${w.clusters.map((x) => x.name).join(', ')}`)
    // DNS to the host itself, on the port the ServiceEntry forwards to.
    const endpoints = (c.load_assignment?.endpoints ?? []).flatMap((e) => e.lb_endpoints)
      .map((l) => `${l.endpoint.address.socket_address.address}:${l.endpoint.address.socket_address.port_value}`)
    assert.deepEqual(endpoints, [`${HOST}:443`])
    const tls = tlsOf(c)
    assert.equal(tls.sni, extra.sni ?? HOST)
    assert.deepEqual(tls.common_tls_context.tls_certificate_sds_secret_configs?.map((s) => s.name), ['kubernetes://bank-api-mtls'])
    const validation = tls.common_tls_context.combined_validation_context
    assert.ok(validation, 'the server chain is verified')
    assert.equal(validation.validation_context_sds_secret_config.name, 'kubernetes://bank-api-mtls-cacert')
    assert.deepEqual(validation.default_validation_context.match_subject_alt_names, [{ exact: extra.subjectAltNames?.[0] ?? HOST }])
    assert.deepEqual(w.pushStatus, {}, 'istiod met nothing to report')
  }
})

test('the waypoint\'s authorization admits the target\'s namespace and refuses any other, and a caller with no identity', async () => {
  const w = theWaypoint(await waypoint(rendered()))
  const main = w.listeners.find((l: EnvoyListener) => l.name === 'main_internal')
  assert.ok(main, `main_internal among ${w.listeners.map((l) => l.name).join(', ')}`)
  const chain = main.filter_chains?.find((f) => f.name === VIP_CLUSTER)
  assert.ok(chain, `a filter chain ${VIP_CLUSTER} among ${(main.filter_chains ?? []).map((f) => f.name ?? '').join(', ')}`)
  const hcm = chain.filters.find((f) => f.name === 'envoy.filters.network.http_connection_manager')
  const filters = (hcm?.typed_config?.['http_filters'] ?? []) as { name: string, typed_config?: Record<string, unknown> }[]
  const rbac = filters.filter((f) => f.name === 'envoy.filters.http.rbac').map((f) => f.typed_config ?? {}).filter((c) => c['rules'] !== undefined)
  assert.ok(rbac.length > 0, 'an enforcing RBAC filter on the host\'s chain')
  /** As Envoy runs the chain's RBAC filters: refused by a DENY that matches or an ALLOW that does not. */
  const admitted = (r: Request): boolean => rbac.every((config) => {
    const matched = matchingPolicies(config, r).length > 0
    return rbacAction(config) === 'DENY' ? !matched : matched
  })
  const from = (ns: string): Request => ({ principal: `spiffe://cluster.local/ns/${ns}/sa/default`, authority: HOST, sni: '' })
  assert.equal(admitted(from('payments')), true, 'the target\'s namespace')
  for (const ns of ['billing', 'egress', 'payments-2', 'istio-system']) assert.equal(admitted(from(ns)), false, ns)
  assert.equal(admitted({ principal: '', authority: HOST, sni: '' }), false, 'no identity')
})
