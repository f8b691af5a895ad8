// Istio tier: the Envoy configuration Istio generates from the rendered objects (istio-check
// envoy: pilot/pkg/networking/core's config generation through the harness Istio's own
// cluster tests use). For a sidecar with the target's pod label, the plain-port route
// reaches a cluster whose TLS context takes the client certificate, key and CA from the
// mounted files, with the right SNI, port and server-name check; a sidecar without the
// label gets no such context; namespaces without the target get no cluster. Both routings.
// Targets sharing a host: each workload's cluster takes its own target's files, SNI and names.
// Also what happens to workloads that are not injected (README "Workloads that are not injected").
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { tlsStatsRegexp } from '../../src/core/admission/proxy-stats.ts'
import { certFiles } from '../../src/core/base/names.ts'
import { type Routing } from '../../src/core/config/config.ts'
import { render } from '../../src/core/istio/render.ts'
import { resolvedConfig } from '../support/config.ts'
import { BUILD_TIMEOUT_MS, envoy, type EnvoyCluster, istioCheckBinary, type ProxyConfig, type UpstreamTlsContext, validate, yamlDocuments } from './istio-check.ts'

await test('istio-check is built (or found in the cache)', { timeout: BUILD_TIMEOUT_MS }, async () => {
  await istioCheckBinary()
})

const HOST = 'api.bank.example.com'
const MESH_HOST = 'all.example.net'
const TLS_CONTEXT = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext'

const configFor = (routing: Routing, extra: Record<string, unknown> = {}): ReturnType<typeof resolvedConfig> => resolvedConfig({
  routing,
  targets: [
    { name: 'bank-api', host: HOST, port: 8443, plainPort: 8080, namespaces: ['payments'], ...extra },
    { name: 'everywhere', host: MESH_HOST, namespaces: ['*'] },
  ],
})

const PROXIES = [
  { name: 'injected', namespace: 'payments', labels: { app: 'checkout', 'egress-mtls.io/bank-api': 'true', 'egress-mtls.io/everywhere': 'true' } },
  { name: 'not-injected', namespace: 'payments', labels: { app: 'legacy' } },
  { name: 'elsewhere', namespace: 'billing', labels: { app: 'report', 'egress-mtls.io/bank-api': 'true' } },
]

const proxy = (all: readonly ProxyConfig[], name: string): ProxyConfig => {
  const p = all.find((x) => x.name === name)
  assert.ok(p, `proxy ${name}`)
  return p
}

/** The cluster the route of `port` sends `host` to, or undefined when no route names the host. */
function routedCluster (p: ProxyConfig, host: string, port: number): EnvoyCluster | undefined {
  const vhosts = p.routes.filter((r) => r.name === String(port)).flatMap((r) => r.virtual_hosts).filter((v) => v.domains.includes(host))
  if (vhosts.length === 0) return undefined
  assert.equal(vhosts.length, 1)
  const clusterName = vhosts[0]?.routes[0]?.route?.cluster
  assert.ok(clusterName !== undefined, `route ${port} ${host}: a cluster`)
  const cluster = p.clusters.find((c) => c.name === clusterName)
  assert.ok(cluster, `${p.name}: cluster ${clusterName} exists`)
  return cluster
}

const tlsOf = (c: EnvoyCluster): UpstreamTlsContext | undefined => {
  if (c.transport_socket === undefined) return undefined
  assert.equal(c.transport_socket.typed_config['@type'], TLS_CONTEXT)
  return c.transport_socket.typed_config
}

const endpoints = (c: EnvoyCluster): string[] =>
  (c.load_assignment?.endpoints ?? []).flatMap((e) => e.lb_endpoints).map((l) => `${l.endpoint.address.socket_address.address}:${l.endpoint.address.socket_address.port_value}`)

/** The TLS context egress-mtls means: files mounted by the webhook, SNI, SAN check. */
function assertOurTls (tls: UpstreamTlsContext | undefined, target: string, sni: string, sans: readonly string[]): void {
  assert.ok(tls, 'the cluster originates TLS')
  const files = certFiles('/etc/egress-mtls', target)
  assert.equal(tls.sni, sni)
  // Istio serves files named in a DestinationRule over SDS (istio-agent reads them): file-cert:<cert>~<key>, file-root:<ca>.
  assert.deepEqual(tls.common_tls_context.tls_certificate_sds_secret_configs?.map((s) => s.name), [`file-cert:${files.cert}~${files.key}`])
  const validation = tls.common_tls_context.combined_validation_context
  assert.ok(validation, 'the server chain is verified')
  assert.equal(validation.validation_context_sds_secret_config.name, `file-root:${files.cacert}`)
  assert.deepEqual(validation.default_validation_context.match_subject_alt_names, sans.map((exact) => ({ exact })))
}

for (const routing of ['targetPort', 'virtualService'] as const) {
  test(`${routing}: the labelled sidecar's plain-port route reaches a cluster with the mounted files, SNI, port and SAN check; others don't`, async () => {
    const all = await envoy(render(configFor(routing)), PROXIES)
    const clusterName = routing === 'targetPort' ? `outbound|8080||${HOST}` : `outbound|8443||${HOST}`

    const injected = proxy(all, 'injected')
    const c = routedCluster(injected, HOST, 8080)
    assert.ok(c, 'the plain port 8080 routes the host')
    assert.equal(c.name, clusterName)
    assert.deepEqual(endpoints(c), [`${HOST}:8443`], 'to the TLS port')
    assertOurTls(tlsOf(c), 'bank-api', HOST, [HOST])

    // Same namespace, no pod label: the DestinationRule's workloadSelector leaves it out.
    const plain = proxy(all, 'not-injected')
    const pc = routedCluster(plain, HOST, 8080)
    assert.ok(pc)
    assert.equal(pc.name, clusterName)
    assert.deepEqual(endpoints(pc), [`${HOST}:8443`], 'plain HTTP goes to the TLS port')
    assert.equal(tlsOf(pc), undefined, 'no TLS context without the label')
    assert.equal(pc.transport_socket_matches, undefined)

    // Another namespace: the ServiceEntry is exported to its own namespace only.
    const elsewhere = proxy(all, 'elsewhere')
    assert.deepEqual(elsewhere.clusters.filter((x) => x.name.endsWith(`||${HOST}`)).map((x) => x.name), [])
    assert.equal(routedCluster(elsewhere, HOST, 8080), undefined)

    // Port 8443 itself: in targetPort routing it stays TLS pass-through (no origination), so an
    // application's own https:// calls keep working; in virtualService routing the labelled
    // sidecar originates TLS on it, wrapping such calls in a second TLS layer.
    const tlsPort = injected.clusters.find((x) => x.name === `outbound|8443||${HOST}`)
    assert.ok(tlsPort)
    if (routing === 'targetPort') assert.equal(tlsOf(tlsPort), undefined)
    else assertOurTls(tlsOf(tlsPort), 'bank-api', HOST, [HOST])
  })

  test(`${routing}: tlsStats's regexp for the host matches, whole, the TLS statistics of every cluster Istio makes for it (cluster.<alt_stat_name>.ssl.*), and no other host's`, async () => {
    const all = await envoy(render(configFor(routing)), PROXIES)
    const injected = proxy(all, 'injected')
    const regexp = new RegExp(`^(?:${tlsStatsRegexp(HOST)})$`)
    // Envoy's scope of a cluster's statistics: `cluster.<alt_stat_name, else name>.`
    const statPrefix = (c: EnvoyCluster): string => `cluster.${(c as EnvoyCluster & { alt_stat_name?: string }).alt_stat_name ?? c.name}.`
    const ours = injected.clusters.filter((c) => c.name.startsWith('outbound|') && c.name.endsWith(`||${HOST}`))
    assert.deepEqual(ours.map((c) => c.name).sort(), [`outbound|8080||${HOST}`, `outbound|8443||${HOST}`])
    for (const c of ours) {
      for (const stat of ['ssl.handshake', 'ssl.connection_error', 'ssl.fail_verify_error', 'ssl.fail_verify_san']) {
        assert.ok(regexp.test(`${statPrefix(c)}${stat}`), `${statPrefix(c)}${stat}`)
      }
      assert.ok(!regexp.test(`${statPrefix(c)}upstream_cx_total`))
    }
    const others = injected.clusters.filter((c) => !ours.includes(c))
    assert.ok(others.length > 0)
    for (const c of others) assert.ok(!regexp.test(`${statPrefix(c)}ssl.handshake`), c.name)
  })

  test(`${routing}: where the target is not available, the host is unknown: plain calls leave unchanged through PassthroughCluster`, async () => {
    const config = resolvedConfig({ routing, targets: [{ name: 'bank-api', host: HOST, namespaces: ['payments'] }, { name: 'everywhere', host: MESH_HOST, namespaces: ['*'] }] })
    const [elsewhere] = await envoy(render(config), PROXIES.slice(2))
    assert.ok(elsewhere)
    assert.deepEqual(elsewhere.clusters.filter((x) => x.name.endsWith(`||${HOST}`)).map((x) => x.name), [])
    // Port 80 has a route (the mesh-wide target's); HOST matches only its catch-all.
    const route80 = elsewhere.routes.find((r) => r.name === '80')
    assert.ok(route80)
    assert.equal(routedCluster(elsewhere, HOST, 80), undefined)
    assert.deepEqual(route80.virtual_hosts.filter((v) => v.domains.includes('*')).map((v) => v.routes[0]?.route?.cluster), ['PassthroughCluster'])
  })

  test(`${routing}: a mesh-wide target gives every sidecar, labelled or not, in every namespace, the TLS context`, async () => {
    const all = await envoy(render(configFor(routing)), PROXIES)
    for (const p of all) {
      const c = routedCluster(p, MESH_HOST, 80)
      assert.ok(c, `${p.name}: route 80 reaches ${MESH_HOST}`)
      assert.deepEqual(endpoints(c), [`${MESH_HOST}:443`])
      assertOurTls(tlsOf(c), 'everywhere', MESH_HOST, [MESH_HOST])
    }
  })

  test(`${routing}: a connection of the TLS cluster lives at most maxConnectionDuration (1h by default, none with off), so a renewed certificate is presented within it`, async () => {
    const maxDuration = async (extra: Record<string, unknown>): Promise<unknown> => {
      const all = await envoy(render(configFor(routing, extra)), PROXIES.slice(0, 1))
      const c = routedCluster(proxy(all, 'injected'), HOST, 8080)
      assert.ok(c)
      const options = c.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'] as { common_http_protocol_options?: { max_connection_duration?: unknown } } | undefined
      return options?.common_http_protocol_options?.max_connection_duration
    }
    assert.equal(await maxDuration({}), '3600s')
    assert.equal(await maxDuration({ maxConnectionDuration: '10m' }), '600s')
    assert.equal(await maxDuration({ maxConnectionDuration: 'off' }), undefined)
  })

  test(`${routing}: workloadSelector: false gives every sidecar of the namespace the TLS context, labelled or not`, async () => {
    const all = await envoy(render(resolvedConfig({ routing, workloadSelector: false, targets: [{ name: 'bank-api', host: HOST, namespaces: ['payments'] }] })), PROXIES)
    for (const name of ['injected', 'not-injected']) assertOurTls(tlsOf(routedCluster(proxy(all, name), HOST, 80)!), 'bank-api', HOST, [HOST])
    assert.equal(routedCluster(proxy(all, 'elsewhere'), HOST, 80), undefined)
  })

  test(`${routing}: sni and subjectAltNames reach Envoy; verifyServerName: false leaves no server-name check at all`, async () => {
    const sni = await envoy(render(configFor(routing, { sni: 'front.bank.example.com' })), PROXIES.slice(0, 1))
    assertOurTls(tlsOf(routedCluster(sni[0]!, HOST, 8080)!), 'bank-api', 'front.bank.example.com', ['front.bank.example.com'])
    const sans = await envoy(render(configFor(routing, { subjectAltNames: ['bank.example.com', 'spiffe://bank/ns/x/sa/y'] })), PROXIES.slice(0, 1))
    assertOurTls(tlsOf(routedCluster(sans[0]!, HOST, 8080)!), 'bank-api', HOST, ['bank.example.com', 'spiffe://bank/ns/x/sa/y'])

    const off = await envoy(render(configFor(routing, { verifyServerName: false })), PROXIES.slice(0, 1))
    const c = routedCluster(off[0]!, HOST, 8080)!
    const tls = tlsOf(c)
    assert.ok(tls)
    assert.equal(tls.sni, HOST)
    // The chain is still checked against cacert, but no name: no SAN matcher, and since sni is
    // set Istio adds no auto_san_validation either.
    assert.equal(tls.common_tls_context.combined_validation_context?.default_validation_context.match_subject_alt_names, undefined)
    assert.equal(tls.common_tls_context.combined_validation_context?.validation_context_sds_secret_config.name, `file-root:${certFiles('/etc/egress-mtls', 'bank-api').cacert}`)
    assert.doesNotMatch(JSON.stringify(c), /auto_san_validation|auto_sni/)
  })
}

// Several client certificates for one host (docs/design.md "Istio resources", targets sharing
// a host): two targets of one host in one namespace, a workload each.
const MERCHANTS = [
  { name: 'merchant-a', host: HOST, port: 8443, plainPort: 8080, namespaces: ['payments'] },
  { name: 'merchant-b', host: HOST, port: 8443, plainPort: 8080, namespaces: ['payments'], sni: 'b.bank.example.com', secretName: 'b-client' },
]
const SHOPS = [
  { name: 'shop-a', namespace: 'payments', labels: { app: 'shop-a', 'egress-mtls.io/merchant-a': 'true' } },
  { name: 'shop-b', namespace: 'payments', labels: { app: 'shop-b', 'egress-mtls.io/merchant-b': 'true' } },
  { name: 'plain', namespace: 'payments', labels: { app: 'plain' } },
  // What the webhook denies (EMTLS_TARGETS_SHARE_HOST): both labels on one pod.
  { name: 'both', namespace: 'payments', labels: { app: 'both', 'egress-mtls.io/merchant-a': 'true', 'egress-mtls.io/merchant-b': 'true' } },
]

for (const routing of ['targetPort', 'virtualService'] as const) {
  test(`${routing}: targets sharing a host: each workload's cluster for the host takes its own target's files, SNI and server name; an unlabelled one gets none`, async () => {
    const objects = render(resolvedConfig({ routing, targets: MERCHANTS }))
    assert.deepEqual(objects.filter((o) => o.kind !== 'DestinationRule').map((o) => `${o.kind} ${o.metadata.name}`),
      routing === 'targetPort' ? [`ServiceEntry egress-mtls.${HOST}`] : [`ServiceEntry egress-mtls.${HOST}`, `VirtualService egress-mtls.${HOST}`])
    const all = await envoy(objects, SHOPS)
    const clusterName = routing === 'targetPort' ? `outbound|8080||${HOST}` : `outbound|8443||${HOST}`
    const cluster = (name: string): EnvoyCluster => {
      const c = routedCluster(proxy(all, name), HOST, 8080)
      assert.ok(c, `${name}: the plain port 8080 routes the host`)
      assert.equal(c.name, clusterName)
      assert.deepEqual(endpoints(c), [`${HOST}:8443`], 'to the TLS port')
      return c
    }
    assertOurTls(tlsOf(cluster('shop-a')), 'merchant-a', HOST, [HOST])
    assertOurTls(tlsOf(cluster('shop-b')), 'merchant-b', 'b.bank.example.com', ['b.bank.example.com'])
    assert.equal(tlsOf(cluster('plain')), undefined, 'no TLS context without a label')
    // istiod met no conflict or duplicate while generating any of them (its /debug/push_status).
    for (const p of all) assert.deepEqual(p.pushStatus, {}, p.name)

    // Both labels: Istio keeps the two DestinationRules apart (their selectors differ) and
    // applies one of them, whole: one certificate per host, which is why the webhook denies it.
    const both = tlsOf(cluster('both'))
    assert.ok(both)
    const chosen = both.sni === HOST ? 'merchant-a' : 'merchant-b'
    assertOurTls(both, chosen, chosen === 'merchant-a' ? HOST : 'b.bank.example.com', [chosen === 'merchant-a' ? HOST : 'b.bank.example.com'])
  })

  test(`${routing}: targets sharing a host: istiod accepts every object with no error and no warning`, async () => {
    const objects = render(resolvedConfig({ routing, targets: MERCHANTS }))
    const verdicts = await validate(yamlDocuments(objects))
    assert.equal(verdicts.length, objects.length)
    for (const [i, v] of verdicts.entries()) {
      const o = objects[i]!
      assert.deepEqual([v.kind, v.namespace, v.name], [o.kind, o.metadata.namespace, o.metadata.name])
      assert.deepEqual({ allowed: v.allowed, message: v.message, warnings: v.warnings }, { allowed: true, message: undefined, warnings: [] }, `${o.kind} ${o.metadata.name}`)
    }
  })
}

test('istiod\'s push status does report what it meets: two DestinationRules of one host merged with a subset of one name', async () => {
  const [se, dr] = render(resolvedConfig({ workloadSelector: false, targets: [{ name: 'bank-api', host: HOST, namespaces: ['payments'] }] }))
  assert.ok(se && dr)
  const withSubset = (name: string): typeof dr => ({ ...dr, metadata: { ...dr.metadata, name }, spec: { ...dr.spec, subsets: [{ name: 'v1' }] } })
  const [p] = await envoy([se, withSubset('one'), withSubset('two')], PROXIES.slice(1, 2))
  assert.ok(p)
  assert.deepEqual(Object.keys(p.pushStatus), ['pilot_destrule_subsets'])
})
