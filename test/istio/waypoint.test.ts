// Istio tier, origination at an ambient waypoint: Istio's own validation and its
// configuration generation for the WAYPOINT proxy (istio-check waypoint: the xDS fake
// discovery server and ambient index of Istio's waypoint tests, scripts/istio/waypoint.go)
// judge what egress-mtls renders for an `origination: waypoint` target. The waypoint is the
// Gateway of class istio-waypoint, deployed as istiod and Kubernetes would deploy it.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'

import { matchingPolicies, rbacAction, type Request } from './envoy-rbac.ts'
import {
  BUILD_TIMEOUT_MS, egressMtls, type EnvoyCluster, type EnvoyListener, istioCheck, istioCheckBinary, type UpstreamTlsContext, validate,
  waypoint,
  type WaypointConfig, yamlDocuments,
} from './istio-check.ts'

await test('istio-check is built (or found in the cache)', { timeout: BUILD_TIMEOUT_MS }, async () => {
  await istioCheckBinary()
})

const HOST = 'api.bank.example.com'
const WAYPOINT = { name: 'bank-egress', namespace: 'egress' }
const TLS_CONTEXT = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext'
const INTERNAL_UPSTREAM = 'type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport'
const GOLDEN = 'test/fixtures/golden/render'

interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string> }
  spec?: Record<string, unknown>
}

const dir = await mkdtemp(join(tmpdir(), 'egress-mtls-istio-waypoint-'))
after(async () => { await rm(dir, { recursive: true, force: true }) })
let configs = 0

/** What `egress-mtls render -o json` prints for a configuration file. */
async function renderedFile (file: string): Promise<K8sObject[]> {
  const r = await egressMtls(['render', '--config', file, '-o', 'json'])
  assert.equal(r.code, 0, r.stderr)
  return (JSON.parse(r.stdout) as { items: K8sObject[] }).items
}

/** What `egress-mtls render` prints for a configuration (written to a file). */
async function rendered (config: unknown): Promise<K8sObject[]> {
  const file = join(dir, `config-${String(configs++)}.yaml`)
  await writeFile(file, JSON.stringify(config))
  return await renderedFile(file)
}

/** One waypoint target in payments, the waypoint created by provision. */
const bankConfig = (extra: Record<string, unknown> = {}): unknown => ({
  waypoint: { ...WAYPOINT, create: true },
  targets: [{ name: 'bank-api', host: HOST, namespaces: ['payments'], origination: 'waypoint', ...extra }],
})

const theWaypoint = (all: readonly WaypointConfig[], name = WAYPOINT.name, namespace = WAYPOINT.namespace): WaypointConfig => {
  assert.deepEqual(all.map((w) => `${w.namespace}/${w.name}`), [`${namespace}/${name}`])
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
/** The waypoint's cluster of a host's plain port (where the workloads' calls arrive, by HBONE from ztunnel). */
const vipCluster = (host: string, plainPort = 80): string => `inbound-vip|${String(plainPort)}|http|${host}`

const ISTIO_GROUPS = new Set(['networking.istio.io', 'security.istio.io', 'gateway.networking.k8s.io'])

test('istiod accepts every Istio and Gateway API object of waypoint mode with no error and no warning', async () => {
  const objects = [
    ...await renderedFile(`${GOLDEN}/waypoint.config.yaml`),
    ...await renderedFile(`${GOLDEN}/waypoint-custom.config.yaml`),
    ...await rendered(bankConfig({ maxConnectionDuration: '1h' })),
  ]
  // For a Gateway API kind istiod's webhook only decodes the object (Istio registers no rules for
  // those: the Gateway API CRD schemas judge them, test/unit/waypoint.test.ts); that Istio's
  // ambient index takes the Gateway for the waypoint is what the tests below show.
  const istio = objects.filter((o) => ISTIO_GROUPS.has(o.apiVersion.split('/')[0]!))
  // Everything else is Kubernetes RBAC (the waypoint's Secret reader), which istiod does not judge: the API server tier does.
  assert.deepEqual(new Set(objects.filter((o) => !istio.includes(o)).map((o) => o.apiVersion)), new Set(['rbac.authorization.k8s.io/v1']))
  const verdicts = await validate(yamlDocuments(istio))
  assert.equal(verdicts.length, istio.length)
  for (const [i, v] of verdicts.entries()) {
    const o = istio[i]!
    assert.deepEqual([v.kind, v.namespace, v.name], [o.kind, o.metadata.namespace, o.metadata.name])
    assert.deepEqual({ allowed: v.allowed, message: v.message, warnings: v.warnings }, { allowed: true, message: undefined, warnings: [] },
      `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}: ${JSON.stringify(o.spec)}`)
  }
  assert.deepEqual(new Set(istio.map((o) => o.kind)), new Set(['AuthorizationPolicy', 'ServiceEntry', 'DestinationRule', 'Gateway']))
})

test('the ServiceEntry is bound to the waypoint, and is not without its use-waypoint label', async () => {
  const objects = await rendered(bankConfig())
  const bound = theWaypoint(await waypoint(objects))
  assert.deepEqual(bound.services, [`${WAYPOINT.namespace}/${HOST}`])
  assert.ok(cluster(bound, vipCluster(HOST)), `a cluster ${vipCluster(HOST)} among ${bound.clusters.map((c) => c.name).join(', ')}`)
  const unlabelled = objects.map((o) => {
    if (o.kind !== 'ServiceEntry') return o
    const labels = { ...o.metadata.labels }
    assert.equal(labels['istio.io/use-waypoint'], WAYPOINT.name)
    delete labels['istio.io/use-waypoint']
    return { ...o, metadata: { ...o.metadata, labels } }
  })
  const unbound = theWaypoint(await waypoint(unlabelled))
  assert.deepEqual(unbound.services, [])
  assert.equal(cluster(unbound, vipCluster(HOST)), undefined)
})

test('a waypoint the user deployed (not created by provision) serves the target too', async () => {
  const config = { targets: [{ name: 'bank-api', host: HOST, namespaces: ['payments'], origination: 'waypoint' }] }
  const objects = await rendered(config)
  assert.equal(objects.some((o) => o.kind === 'Gateway'), false, 'provision creates no waypoint by default')
  // Theirs, as `istioctl waypoint generate --for service` writes it, under the default name and namespace.
  const theirs = {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'istio-egress', labels: { 'istio.io/waypoint-for': 'service' } },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  }
  const w = theWaypoint(await waypoint([...objects, theirs]), 'waypoint', 'istio-egress')
  assert.deepEqual(w.services, [`istio-egress/${HOST}`])
  assert.equal(tlsOf(cluster(w, vipCluster(HOST))!).common_tls_context.tls_certificate_sds_secret_configs?.[0]?.name, 'kubernetes://bank-api-mtls')
})

test('the waypoint proxy: a cluster for the host whose TLS takes certificate and CA from the Secret by SDS, with SNI and the server\'s name', async () => {
  const cases = [
    { extra: {}, plainPort: 80, port: 443, secret: 'bank-api-mtls', sni: HOST, san: HOST },
    {
      extra: { sni: 'front.bank.example.com', subjectAltNames: ['bank.example.com'], port: 9443, plainPort: 8080, secretName: 'bank-client' },
      plainPort: 8080, port: 9443, secret: 'bank-client', sni: 'front.bank.example.com', san: 'bank.example.com',
    },
  ]
  for (const k of cases) {
    const w = theWaypoint(await waypoint(await rendered(bankConfig(k.extra))))
    const c = cluster(w, vipCluster(HOST, k.plainPort))
    assert.ok(c, `a cluster ${vipCluster(HOST, k.plainPort)} among ${w.clusters.map((x) => x.name).join(', ')}`)
    // DNS to the host itself, on the TLS port the ServiceEntry forwards the plain port to.
    const endpoints = (c.load_assignment?.endpoints ?? []).flatMap((e) => e.lb_endpoints)
      .map((l) => `${l.endpoint.address.socket_address.address}:${l.endpoint.address.socket_address.port_value}`)
    assert.deepEqual(endpoints, [`${HOST}:${String(k.port)}`])
    const tls = tlsOf(c)
    assert.equal(tls.sni, k.sni)
    assert.deepEqual(tls.common_tls_context.tls_certificate_sds_secret_configs?.map((s) => s.name), [`kubernetes://${k.secret}`])
    const validation = tls.common_tls_context.combined_validation_context
    assert.ok(validation, 'the server chain is verified')
    assert.equal(validation.validation_context_sds_secret_config.name, `kubernetes://${k.secret}-cacert`)
    assert.deepEqual(validation.default_validation_context.match_subject_alt_names, [{ exact: k.san }])
    assert.deepEqual(w.pushStatus, {}, 'istiod met nothing to report')
  }
})

test('the waypoint\'s authorization admits the target\'s namespaces only on its plain and TLS ports, a caller with no identity nowhere; a mesh-wide target\'s host is open', async () => {
  const w = theWaypoint(await waypoint(await renderedFile(`${GOLDEN}/waypoint-custom.config.yaml`)))
  const main = w.listeners.find((l: EnvoyListener) => l.name === 'main_internal')
  assert.ok(main, `main_internal among ${w.listeners.map((l) => l.name).join(', ')}`)
  /**
   * As Envoy runs the RBAC filters of a chain (the HTTP ones of a plain port's, the network
   * ones of a TLS port's): refused by a DENY that matches or an ALLOW that does not.
   */
  const admitted = (chainName: string, r: Request): boolean => {
    const chain = main.filter_chains?.find((f) => f.name === chainName)
    assert.ok(chain, `a filter chain ${chainName} among ${(main.filter_chains ?? []).map((f) => f.name ?? '').join(', ')}`)
    const hcm = chain.filters.find((f) => f.name === 'envoy.filters.network.http_connection_manager')
    const filters = [...chain.filters, ...(hcm?.typed_config?.['http_filters'] ?? []) as { name: string, typed_config?: Record<string, unknown> }[]]
    const rbac = filters.filter((f) => f.name === 'envoy.filters.http.rbac' || f.name === 'envoy.filters.network.rbac')
      .map((f) => f.typed_config ?? {}).filter((c) => c['rules'] !== undefined)
    return rbac.every((config) => {
      const matched = matchingPolicies(config, r).length > 0
      return rbacAction(config) === 'DENY' ? !matched : matched
    })
  }
  const from = (ns: string): Request => ({ principal: `spiffe://cluster.local/ns/${ns}/sa/default`, authority: HOST, sni: '' })
  // The plain port, where the waypoint originates, and the TLS port, which it passes through.
  for (const bank of [vipCluster(HOST, 8080), `inbound-vip|9443|tcp|${HOST}`]) {
    for (const ns of ['payments', 'egress']) assert.equal(admitted(bank, from(ns)), true, `${bank}: ${ns}, a namespace of the target`)
    for (const ns of ['billing', 'payments-2', 'istio-system']) assert.equal(admitted(bank, from(ns)), false, `${bank}: ${ns}`)
    assert.equal(admitted(bank, { principal: '', authority: HOST, sni: '' }), false, `${bank}: no identity`)
  }
  for (const everywhere of [vipCluster('all.example.net'), 'inbound-vip|443|tcp|all.example.net']) {
    for (const ns of ['billing', 'payments']) assert.equal(admitted(everywhere, from(ns)), true, `${everywhere}: ${ns}, the mesh-wide target`)
  }
})

test('istio-check waypoint refuses what it cannot judge: no waypoint Gateway, or an istiod without ambient', async () => {
  const objects = await rendered({ targets: [{ name: 'bank-api', host: HOST, namespaces: ['payments'], origination: 'waypoint' }] })
  const request = JSON.stringify({ configs: yamlDocuments(objects) })
  await assert.rejects(istioCheck('waypoint', request, { PILOT_ENABLE_AMBIENT: 'true' }), /exited 2: .*no Gateway of class istio-waypoint/)
  await assert.rejects(istioCheck('waypoint', request), /exited 2: .*PILOT_ENABLE_AMBIENT=true/)
})
