// Istio tier, origination at the egress gateway: Istio's own validation and configuration
// generation (istio-check) judge what egress-mtls renders for an `egressGateway` target.
// The gateway is modelled as Istio's gateway chart deploys `istio-egressgateway` in
// istio-system: a router proxy with the chart's pod labels (app, istio: egressgateway),
// its Service's ports (status-port 15021, http2 80, https 443, each to the same pod port:
// the chart's non-root pod binds them through net.ipv4.ip_unprivileged_port_start=0, so it
// is not an "unprivileged pod" for istiod) and that Service in the registry, its endpoint
// at the gateway pod's address. Last, the move of a live target from sidecar mode: after
// each object provision applies, in its order, the labelled sidecar's call has a full path.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { plan } from '../../src/core/istio/plan.ts'
import { render } from '../../src/core/istio/render.ts'
import { resolvedConfig } from '../support/config.ts'
import { matchingPolicies, rbacAction, type Request } from './envoy-rbac.ts'
import {
  BUILD_TIMEOUT_MS, envoy, type EnvoyCluster, type GatewayService, istioCheckBinary, type ProxyConfig, type ProxyRequest,
  type UpstreamTlsContext,
  validate, yamlDocuments,
} from './istio-check.ts'

await test('istio-check is built (or found in the cache)', { timeout: BUILD_TIMEOUT_MS }, async () => {
  await istioCheckBinary()
})

const HOST = 'api.bank.example.com'
const OTHER = 'other.example.org'
const GATEWAY_SERVICE = 'istio-egressgateway.istio-system.svc.cluster.local'
const POD_LABELS = { app: 'istio-egressgateway', istio: 'egressgateway' }
const GATEWAY_IP = '10.1.0.5'
const GATEWAY: GatewayService = {
  name: 'istio-egressgateway',
  namespace: 'istio-system',
  selector: POD_LABELS,
  serviceAccount: 'istio-egressgateway',
  podIP: GATEWAY_IP,
  podLabels: POD_LABELS,
  ports: [{ name: 'status-port', port: 15021, targetPort: 15021 }, { name: 'http2', port: 80, targetPort: 80 }, { name: 'https', port: 443, targetPort: 443 }],
}
const PROXIES: ProxyRequest[] = [
  { name: 'istio-egressgateway', namespace: 'istio-system', labels: POD_LABELS, type: 'router', ip: GATEWAY_IP },
  { name: 'labelled', namespace: 'payments', labels: { app: 'checkout', 'egress-mtls.io/bank-api': 'true' } },
  { name: 'unlabelled', namespace: 'payments', labels: { app: 'legacy' } },
]
const TLS_CONTEXT = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext'

const configWith = (extra: Record<string, unknown> = {}): ReturnType<typeof resolvedConfig> => resolvedConfig({
  targets: [{ name: 'bank-api', host: HOST, namespaces: ['payments'], origination: 'egressGateway', ...extra }],
})

/** Another team's egress through the same gateway, for OTHER (what our policy must leave alone). */
const THEIRS = [
  {
    apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'theirs', namespace: 'istio-system' },
    spec: { hosts: [OTHER], exportTo: ['.'], location: 'MESH_EXTERNAL', resolution: 'DNS', ports: [{ number: 443, name: 'tls', protocol: 'TLS' }] },
  },
  {
    apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'theirs', namespace: 'istio-system' },
    spec: { selector: { istio: 'egressgateway' }, servers: [{ port: { number: 443, name: 'https-theirs', protocol: 'HTTPS' }, hosts: [`./${OTHER}`], tls: { mode: 'ISTIO_MUTUAL' } }] },
  },
  {
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'theirs', namespace: 'istio-system' },
    spec: { hosts: [OTHER], gateways: ['theirs'], exportTo: ['.'], http: [{ route: [{ destination: { host: OTHER, port: { number: 443 } } }] }] },
  },
]

const proxy = (all: readonly ProxyConfig[], name: string): ProxyConfig => {
  const p = all.find((x) => x.name === name)
  assert.ok(p, `proxy ${name}`)
  return p
}
const cluster = (p: ProxyConfig, name: string): EnvoyCluster => {
  const c = p.clusters.find((x) => x.name === name)
  assert.ok(c, `${p.name}: cluster ${name} among ${p.clusters.map((x) => x.name).join(', ')}`)
  return c
}
const tlsOf = (c: EnvoyCluster): UpstreamTlsContext => {
  assert.ok(c.transport_socket, `${c.name}: a transport socket`)
  assert.equal(c.transport_socket.typed_config['@type'], TLS_CONTEXT)
  return c.transport_socket.typed_config
}
const endpoints = (c: EnvoyCluster): string[] =>
  (c.load_assignment?.endpoints ?? []).flatMap((e) => e.lb_endpoints).map((l) => `${l.endpoint.address.socket_address.address}:${l.endpoint.address.socket_address.port_value}`)
/** The route of `routeName` for `host`: its virtual host's first route. */
const routeOf = (p: ProxyConfig, routeName: string, host: string): NonNullable<ProxyConfig['routes'][number]['virtual_hosts'][number]['routes'][number]> | undefined => {
  const vhosts = p.routes.filter((r) => r.name === routeName).flatMap((r) => r.virtual_hosts).filter((v) => v.domains.includes(host))
  if (vhosts.length === 0) return undefined
  assert.equal(vhosts.length, 1, `${p.name}: one virtual host for ${host} in ${routeName}`)
  return vhosts[0]?.routes[0]
}

test('istiod accepts every object of gateway mode with no error and no warning, beside sidecar mode and another team\'s gateway', async () => {
  const objects = [
    ...render(resolvedConfig({
      egressGateway: { namespace: 'istio-egress' },
      targets: [
        { name: 'bank-api', host: HOST, namespaces: ['payments', 'billing'], origination: 'egressGateway', maxConnectionDuration: '1h', subjectAltNames: ['bank.example.com'] },
        { name: 'tls-keys', host: 'tls.example.com', namespaces: ['payments'], origination: 'egressGateway', secretKeys: { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' }, verifyServerName: false },
        { name: 'everywhere', host: 'all.example.net', namespaces: ['*'], origination: 'egressGateway' },
        { name: 'sidecar', host: 'sidecar.example.com', namespaces: ['payments'] },
      ],
    })),
    ...render(resolvedConfig({ routing: 'virtualService', targets: [{ name: 'vs', host: 'vs.example.com', namespaces: ['vs-ns', 'istio-system'], origination: 'egressGateway' }] })),
  ]
  const verdicts = await validate(yamlDocuments(objects))
  assert.equal(verdicts.length, objects.length)
  for (const [i, v] of verdicts.entries()) {
    const o = objects[i]!
    assert.deepEqual({ allowed: v.allowed, message: v.message, warnings: v.warnings }, { allowed: true, message: undefined, warnings: [] },
      `${o.kind} ${o.metadata.namespace}/${o.metadata.name}: ${JSON.stringify(o.spec)}`)
  }
  assert.deepEqual(new Set(objects.map((o) => o.kind)), new Set(['AuthorizationPolicy', 'ServiceEntry', 'DestinationRule', 'VirtualService', 'Gateway']))
})

test('the gateway proxy: a cluster for host:port whose TLS takes certificate and CA from the Secret by SDS, with SNI and the server\'s name', async () => {
  for (const extra of [{}, { sni: 'front.bank.example.com', subjectAltNames: ['bank.example.com'] }]) {
    const all = await envoy(render(configWith(extra)), PROXIES, 'istio-system', [GATEWAY])
    const gw = proxy(all, 'istio-egressgateway')
    const c = cluster(gw, `outbound|443||${HOST}`)
    assert.deepEqual(endpoints(c), [`${HOST}:443`])
    const tls = tlsOf(c)
    assert.equal(tls.sni, 'sni' in extra ? extra.sni : HOST)
    assert.deepEqual(tls.common_tls_context.tls_certificate_sds_secret_configs?.map((s) => s.name), ['kubernetes://bank-api-mtls'])
    const validation = tls.common_tls_context.combined_validation_context
    assert.ok(validation, 'the server chain is verified')
    assert.equal(validation.validation_context_sds_secret_config.name, 'kubernetes://bank-api-mtls-cacert')
    assert.deepEqual(validation.default_validation_context.match_subject_alt_names, [{ exact: 'subjectAltNames' in extra ? 'bank.example.com' : HOST }])
    // The gateway serves the host on 443 (its Service's port, the pod's too) with ISTIO_MUTUAL, and routes it to that cluster.
    const listener = gw.listeners?.find((l) => l.address?.socket_address?.port_value === 443)
    assert.ok(listener, `a listener on 443 among ${(gw.listeners ?? []).map((l) => l.name).join(', ')}`)
    const chain = listener.filter_chains?.find((f) => f.filter_chain_match?.server_names?.includes(HOST))
    assert.ok(chain, 'a filter chain for the host\'s SNI')
    assert.equal((chain.transport_socket?.typed_config as { require_client_certificate?: boolean } | undefined)?.require_client_certificate, true, 'mTLS: only the mesh\'s sidecars')
    const route = gw.routes.flatMap((r) => r.virtual_hosts).find((v) => v.domains.includes(HOST))?.routes[0]
    assert.equal(route?.route?.cluster, `outbound|443||${HOST}`)
  }
})

test('a labelled sidecar sends plainPort to the gateway over ISTIO_MUTUAL with the host as SNI; an unlabelled one gets 403 from its own sidecar', async () => {
  const all = await envoy(render(configWith()), PROXIES, 'istio-system', [GATEWAY])
  const subsetCluster = `outbound|443|egress-mtls-bank-api|${GATEWAY_SERVICE}`
  const labelled = proxy(all, 'labelled')
  const route = routeOf(labelled, '80', HOST)
  assert.equal(route?.route?.cluster, subsetCluster)
  const c = cluster(labelled, subsetCluster)
  // The gateway's Kubernetes Service: endpoints by EDS (the pod's address), not in the cluster itself.
  assert.equal((c as { type?: string }).type, 'EDS')
  const tls = tlsOf(c)
  assert.equal(tls.sni, HOST)
  // ISTIO_MUTUAL: the workload's own mesh certificate and the mesh's root, never the partner's key.
  assert.deepEqual(tls.common_tls_context.tls_certificate_sds_secret_configs?.map((s) => s.name), ['default'])
  assert.equal(tls.common_tls_context.combined_validation_context?.validation_context_sds_secret_config.name, 'ROOTCA')
  assert.doesNotMatch(JSON.stringify(labelled), /kubernetes:\/\/bank-api-mtls|\/etc\/egress-mtls/)

  const unlabelled = proxy(all, 'unlabelled')
  const refused = routeOf(unlabelled, '80', HOST)
  assert.ok(refused, 'the host has a route')
  assert.equal(refused.route, undefined, 'no cluster')
  const answer = refused.direct_response
  assert.ok(answer, 'a direct response')
  assert.equal(answer.status, 403)
  assert.match(answer.body?.inline_string ?? '', /not opted in to target bank-api/)
  assert.equal(JSON.stringify(unlabelled.routes).includes(subsetCluster), false, 'no route of the unlabelled sidecar reaches the gateway')
})

test('the gateway\'s authorization refuses the host\'s server, whatever Host a request names, to any source namespace but the target\'s, and leaves another host alone', async () => {
  const all = await envoy([...render(configWith()), ...THEIRS], PROXIES, 'istio-system', [GATEWAY])
  const gw = proxy(all, 'istio-egressgateway')
  const listener = gw.listeners?.find((l) => l.address?.socket_address?.port_value === 443)
  assert.ok(listener)
  /** Denied by a DENY filter of the chain the connection's SNI selects? */
  const denied = (r: Request): boolean => {
    const chain = listener.filter_chains?.find((f) => f.filter_chain_match?.server_names?.includes(r.sni))
    assert.ok(chain, `a chain for SNI ${r.sni}`)
    const hcm = chain.filters.find((f) => f.name === 'envoy.filters.network.http_connection_manager')
    const filters = (hcm?.typed_config?.['http_filters'] ?? []) as { name: string, typed_config?: Record<string, unknown> }[]
    const rbac = filters.filter((f) => f.name === 'envoy.filters.http.rbac').map((f) => f.typed_config ?? {})
    return rbac.some((config) => rbacAction(config) === 'DENY' && matchingPolicies(config, r).length > 0)
  }
  const from = (ns: string): string => `spiffe://cluster.local/ns/${ns}/sa/default`
  assert.equal(denied({ principal: from('payments'), authority: HOST, sni: HOST }), false, 'the target\'s namespace is served')
  for (const authority of [HOST, `${HOST}:443`, `${HOST}:80`, HOST.toUpperCase(), `${HOST}.`, `${HOST}.:443`]) {
    assert.equal(denied({ principal: from('billing'), authority, sni: HOST }), true, `billing, Host ${authority}`)
    assert.equal(denied({ principal: from('payments'), authority, sni: HOST }), false, `payments, Host ${authority}`)
  }
  assert.equal(denied({ principal: '', authority: HOST, sni: HOST }), true, 'no identity')
  // The host asked for on another team's server (its SNI): no route of that server leads to the host.
  const ours = `outbound|443||${HOST}`
  const routing = gw.routes.filter((r) => JSON.stringify(r).includes(ours)).map((r) => r.name)
  assert.deepEqual(routing, ['https.443.https-egress-mtls-bank-api.egress-mtls-bank-api-gateway.istio-system'], 'only our server routes to the host')
  const othersChains = listener.filter_chains?.filter((f) => f.filter_chain_match?.server_names?.includes(OTHER))
  assert.equal(JSON.stringify(othersChains).includes(ours), false)
  // Their host, from any namespace: our policy changes nothing.
  for (const ns of ['billing', 'payments', 'team-b']) assert.equal(denied({ principal: from(ns), authority: OTHER, sni: OTHER }), false, `${ns} to ${OTHER}`)
})

test('moving a live target from sidecar to egressGateway: after each object provision applies, in its order, the labelled sidecar\'s call still reaches a full path', async () => {
  const sidecarMode = render(resolvedConfig({ targets: [{ name: 'bank-api', host: HOST, namespaces: ['payments'] }] }))
  const entries = plan(render(configWith()), sidecarMode, { instance: 'egress-mtls' })
  assert.deepEqual(entries.map((e) => e.action), ['create', 'create', 'create', 'create', 'create', 'create', 'unchanged', 'create', 'delete'])
  const key = (o: { kind: string, metadata: { namespace: string, name: string } }): string => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`
  const state = new Map<string, unknown>(sidecarMode.map((o) => [key(o), o]))
  const paths: string[] = []
  for (let k = 0; k <= entries.length; k++) {
    if (k > 0) {
      const e = entries[k - 1]!
      if (e.action === 'delete') state.delete(`${e.kind} ${e.namespace}/${e.name}`)
      else if (e.desired !== undefined) state.set(key(e.desired), e.desired)
    }
    const all = await envoy([...state.values()], PROXIES.slice(0, 2), 'istio-system', [GATEWAY])
    const labelled = proxy(all, 'labelled')
    const clusterName = routeOf(labelled, '80', HOST)?.route?.cluster
    assert.ok(clusterName !== undefined, `step ${k}: the labelled sidecar routes ${HOST}:80`)
    const c = cluster(labelled, clusterName)
    const tls = tlsOf(c)
    if (clusterName === `outbound|80||${HOST}`) {
      // Sidecar mode: it originates with its mounted files (the pods keep their volume until restarted).
      assert.deepEqual(tls.common_tls_context.tls_certificate_sds_secret_configs?.map((s) => s.name), ['file-cert:/etc/egress-mtls/bank-api/cert~/etc/egress-mtls/bank-api/key'], `step ${k}`)
      paths.push('sidecar')
    } else {
      // Through the gateway: ISTIO_MUTUAL to it, and there the server, the route and the origination exist.
      assert.equal(clusterName, `outbound|443|egress-mtls-bank-api|${GATEWAY_SERVICE}`, `step ${k}`)
      assert.deepEqual([tls.sni, tls.common_tls_context.tls_certificate_sds_secret_configs?.map((s) => s.name)], [HOST, ['default']], `step ${k}`)
      const gw = proxy(all, 'istio-egressgateway')
      assert.ok(gw.listeners?.some((l) => l.filter_chains?.some((f) => f.filter_chain_match?.server_names?.includes(HOST))), `step ${k}: the gateway serves ${HOST}`)
      assert.equal(gw.routes.flatMap((r) => r.virtual_hosts).find((v) => v.domains.includes(HOST))?.routes[0]?.route?.cluster, `outbound|443||${HOST}`, `step ${k}`)
      assert.deepEqual(tlsOf(cluster(gw, `outbound|443||${HOST}`)).common_tls_context.tls_certificate_sds_secret_configs?.map((s) => s.name), ['kubernetes://bank-api-mtls'], `step ${k}`)
      paths.push('gateway')
    }
  }
  // Through sidecar mode until the route appears, then through the gateway, never a gap.
  assert.deepEqual(paths, ['sidecar', 'sidecar', 'sidecar', 'sidecar', 'sidecar', 'sidecar', 'sidecar', 'sidecar', 'gateway', 'gateway'])
})
