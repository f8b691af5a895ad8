// render(): the Istio resources of docs/design.md, each validated against the openAPIV3Schema of
// Istio 1.30.3's CRDs (test/fixtures/istio, with Istio's licence).
import assert from 'node:assert/strict'
import { test } from 'node:test'

import fc from 'fast-check'

import { certFiles } from '../../src/core/base/names.ts'
import { type Config } from '../../src/core/config/config.ts'
import { ISTIO_GROUPS, ISTIO_KINDS, type IstioKind, type IstioObject, render, renderWarnings } from '../../src/core/istio/render.ts'
import { resolvedConfig } from '../support/config.ts'
import { crdValidators, gvk, schemaErrorsWith } from '../support/crd-schemas.ts'

const CRDS = new URL('../fixtures/istio/crds-1.30.3.yaml', import.meta.url)

const validators = crdValidators([CRDS], ISTIO_KINDS.map((kind) => gvk(`${ISTIO_GROUPS[kind]}/v1`, kind)))
const schemaErrors = (o: unknown): string[] => schemaErrorsWith(validators, o)

function assertValid (objects: readonly IstioObject[]): void {
  assert.ok(objects.length > 0)
  for (const o of objects) assert.deepEqual(schemaErrors(o), [], `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)
}

const config = (raw: Record<string, unknown>): Config => resolvedConfig(raw)
const bank = { name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'] }
const find = (objects: readonly IstioObject[], kind: IstioKind, namespace: string, name = 'egress-mtls-bank-api'): IstioObject => {
  const o = objects.find((x) => x.kind === kind && x.metadata.namespace === namespace && x.metadata.name === name)
  assert.ok(o, `${kind} ${namespace}/${name} not rendered`)
  return o
}

test('the schema check rejects what the API server would: unknown fields, bad enums, missing fields', () => {
  const [se, dr] = render(config({ targets: [bank] }))
  assert.ok(se && dr)
  assert.deepEqual(schemaErrors(se), [])
  const withTls = (tls: Record<string, unknown>): unknown =>
    ({ ...dr, spec: { ...dr.spec, trafficPolicy: { portLevelSettings: [{ port: { number: 80 }, tls }] } } })
  assert.notDeepEqual(schemaErrors(withTls({ mode: 'MUTUAL', clientCert: '/x' })), [], 'unknown field inside tls')
  assert.notDeepEqual(schemaErrors(withTls({ mode: 'MUTUAL_TLS' })), [], 'mode outside the enum')
  assert.notDeepEqual(schemaErrors({ ...se, spec: { ...se.spec, resolution: 'dns' } }), [], 'resolution outside the enum')
  assert.notDeepEqual(schemaErrors({ ...se, spec: { ...se.spec, hosts: undefined } }), [], 'hosts is required')
  assert.notDeepEqual(schemaErrors({ ...se, metadata: { ...se.metadata, uid: 'x' } }), [], 'unknown metadata field')
  assert.notDeepEqual(schemaErrors({ ...se, kind: 'DestinationRule' }), [], 'kind is checked')
})

test('targetPort routing (default): ServiceEntry with targetPort, DestinationRule TLS on the plain port, no VirtualService', () => {
  const c = config({ targets: [{ ...bank, subjectAltNames: ['bank.example.com'], maxConnectionDuration: '1h' }] })
  const objects = render(c)
  assertValid(objects)
  const files = certFiles(c.mountRoot, 'bank-api')
  const labels = { 'app.kubernetes.io/managed-by': 'egress-mtls', 'egress-mtls.io/instance': 'egress-mtls', 'egress-mtls.io/target': 'bank-api' }
  assert.deepEqual(objects, [
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'egress-mtls-bank-api', namespace: 'payments', labels },
      spec: {
        hosts: ['api.bank.example.com'],
        exportTo: ['.'],
        location: 'MESH_EXTERNAL',
        resolution: 'DNS',
        ports: [
          { number: 80, name: 'http', protocol: 'HTTP', targetPort: 443 },
          { number: 443, name: 'https', protocol: 'HTTPS' },
        ],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'egress-mtls-bank-api', namespace: 'payments', labels },
      spec: {
        host: 'api.bank.example.com',
        exportTo: ['.'],
        workloadSelector: { matchLabels: { 'egress-mtls.io/bank-api': 'true' } },
        trafficPolicy: {
          portLevelSettings: [{
            port: { number: 80 },
            connectionPool: { tcp: { maxConnectionDuration: '1h' } },
            tls: {
              mode: 'MUTUAL',
              clientCertificate: files.cert,
              privateKey: files.key,
              caCertificates: files.cacert,
              sni: 'api.bank.example.com',
              subjectAltNames: ['bank.example.com'],
            },
          }],
        },
      },
    },
  ])
  assert.equal(files.cert, '/etc/egress-mtls/bank-api/cert')
})

test('virtualService routing: the VirtualService routes plainPort to port, TLS on port, no targetPort', () => {
  const objects = render(config({ routing: 'virtualService', targets: [{ ...bank, port: 8443, plainPort: 8080 }] }))
  assertValid(objects)
  assert.deepEqual(objects.map((o) => o.kind), ['ServiceEntry', 'DestinationRule', 'VirtualService'])
  assert.deepEqual(find(objects, 'ServiceEntry', 'payments').spec?.['ports'], [
    { number: 8080, name: 'http', protocol: 'HTTP' },
    { number: 8443, name: 'https', protocol: 'HTTPS' },
  ])
  const dr = find(objects, 'DestinationRule', 'payments').spec as { trafficPolicy: { portLevelSettings: { port: unknown, tls: Record<string, unknown> }[] } }
  assert.deepEqual(dr.trafficPolicy.portLevelSettings.map((p) => p.port), [{ number: 8443 }])
  assert.equal(dr.trafficPolicy.portLevelSettings[0]?.tls['mode'], 'MUTUAL')
  assert.deepEqual(find(objects, 'VirtualService', 'payments').spec, {
    hosts: ['api.bank.example.com'],
    exportTo: ['.'],
    http: [{ match: [{ port: 8080 }], route: [{ destination: { host: 'api.bank.example.com', port: { number: 8443 } } }] }],
  })
})

test('a mesh-wide target gets one set in meshRootNamespace, exported everywhere, without selector', () => {
  for (const routing of ['targetPort', 'virtualService']) {
    const objects = render(config({ routing, meshRootNamespace: 'mesh-root', targets: [{ ...bank, namespaces: ['*'] }] }))
    assertValid(objects)
    assert.deepEqual(new Set(objects.map((o) => o.metadata.namespace)), new Set(['mesh-root']))
    for (const o of objects) assert.deepEqual(o.spec?.['exportTo'], ['*'])
    assert.equal(find(objects, 'DestinationRule', 'mesh-root').spec?.['workloadSelector'], undefined)
  }
})

test('a namespaced target gets one set per namespace; workloadSelector: false leaves the selector out', () => {
  const objects = render(config({ workloadSelector: false, targets: [{ ...bank, namespaces: ['payments', 'billing'] }] }))
  assertValid(objects)
  assert.deepEqual(objects.map((o) => `${o.metadata.namespace}/${o.kind}`), [
    'billing/ServiceEntry', 'billing/DestinationRule', 'payments/ServiceEntry', 'payments/DestinationRule',
  ])
  for (const o of objects) assert.equal(o.spec?.['workloadSelector'], undefined)
})

test('sni defaults to the host; the server must be named sni (subjectAltNames); custom sni and mountRoot; a connection lives 1h by default, unbounded with off', () => {
  const objects = render(config({ mountRoot: '/var/run/mtls/', targets: [bank, { name: 'tax-gw', host: 'gw.tax.example.org', sni: 'sni.tax.example.org', namespaces: ['payments'], maxConnectionDuration: 'off' }] }))
  assertValid(objects)
  const tlsOf = (name: string): Record<string, unknown> => {
    const dr = find(objects, 'DestinationRule', 'payments', name).spec as { trafficPolicy: { portLevelSettings: Record<string, unknown>[] } }
    const pls = dr.trafficPolicy.portLevelSettings[0]
    assert.ok(pls)
    assert.deepEqual(pls['connectionPool'], name === 'egress-mtls-bank-api' ? { tcp: { maxConnectionDuration: '1h' } } : undefined, name)
    return pls['tls'] as Record<string, unknown>
  }
  assert.equal(tlsOf('egress-mtls-bank-api')['sni'], 'api.bank.example.com')
  assert.deepEqual(tlsOf('egress-mtls-bank-api')['subjectAltNames'], ['api.bank.example.com'])
  assert.equal(tlsOf('egress-mtls-tax-gw')['sni'], 'sni.tax.example.org')
  assert.deepEqual(tlsOf('egress-mtls-tax-gw')['subjectAltNames'], ['sni.tax.example.org'])
  assert.equal(tlsOf('egress-mtls-tax-gw')['clientCertificate'], '/var/run/mtls/tax-gw/cert')
  assert.equal(tlsOf('egress-mtls-tax-gw')['clientCertificate'], certFiles('/var/run/mtls', 'tax-gw').cert)
})

const tlsOfFirst = (objects: readonly IstioObject[]): Record<string, unknown> => {
  const dr = find(objects, 'DestinationRule', 'payments').spec as { trafficPolicy: { portLevelSettings: { tls: Record<string, unknown> }[] } }
  const tls = dr.trafficPolicy.portLevelSettings[0]?.tls
  assert.ok(tls)
  return tls
}

test('the server name is verified by default: subjectAltNames from sni (default host), the user\'s when given', () => {
  for (const routing of ['targetPort', 'virtualService']) {
    assert.deepEqual(tlsOfFirst(render(config({ routing, targets: [bank] })))['subjectAltNames'], ['api.bank.example.com'])
    assert.deepEqual(tlsOfFirst(render(config({ routing, targets: [{ ...bank, sni: 'front.bank.example.com' }] })))['subjectAltNames'], ['front.bank.example.com'])
    assert.deepEqual(tlsOfFirst(render(config({ routing, targets: [{ ...bank, subjectAltNames: ['x.example.com', 'spiffe://bank/y'] }] })))['subjectAltNames'], ['x.example.com', 'spiffe://bank/y'])
  }
  assert.deepEqual(renderWarnings(config({ targets: [bank] })), [])
})

test('verifyServerName: false renders no subjectAltNames (sni kept, so Istio adds no automatic check) and warns', () => {
  const c = config({ targets: [{ ...bank, verifyServerName: false }, { name: 'ok', host: 'ok.example.com', namespaces: ['payments'] }] })
  const objects = render(c)
  assertValid(objects)
  const tls = tlsOfFirst(objects)
  assert.equal(tls['subjectAltNames'], undefined)
  assert.equal(tls['sni'], 'api.bank.example.com')
  assert.equal(tls['caCertificates'], '/etc/egress-mtls/bank-api/cacert', 'the chain is still verified against cacert')
  assert.deepEqual(renderWarnings(c), [
    'target bank-api: verifyServerName is false: the sidecar accepts any server certificate signed by the CA in its cacert, whatever name it carries (not only api.bank.example.com)',
  ])
})

test('every combination of routing, selector, scope and optional fields validates against the CRDs', () => {
  let count = 0
  for (const routing of ['targetPort', 'virtualService']) {
    for (const workloadSelector of [true, false]) {
      for (const namespaces of [['payments'], ['payments', 'billing'], ['*']]) {
        for (const names of [{}, { subjectAltNames: ['a.example.com', 'spiffe://bank/ns/x/sa/y'] }, { verifyServerName: false }, { sni: 'sni.example.com' }]) {
          for (const maxConnectionDuration of [undefined, '90m', '1h30m0.5s']) {
            const target = { ...bank, namespaces, ...names, ...(maxConnectionDuration === undefined ? {} : { maxConnectionDuration }) }
            const objects = render(config({ routing, workloadSelector, targets: [target, { name: 'z', host: 'z.example.com', port: 1, plainPort: 65535, namespaces: ['payments'] }] }))
            assertValid(objects)
            count += objects.length
          }
        }
      }
    }
  }
  assert.ok(count > 100, `${count} objects validated`)
})

test('output is ordered by namespace, target and kind whatever the configuration order', () => {
  const a = { name: 'a', host: 'a.example.com', namespaces: ['zeta', 'alpha'] }
  const b = { name: 'b', host: 'b.example.com', namespaces: ['alpha'] }
  const one = render(config({ routing: 'virtualService', targets: [b, a] }))
  const two = render(config({ routing: 'virtualService', targets: [a, b] }))
  assert.deepEqual(one, two)
  assert.deepEqual(one.map((o) => `${o.metadata.namespace}/${o.metadata.name}/${o.kind}`), [
    'alpha/egress-mtls-a/ServiceEntry', 'alpha/egress-mtls-a/DestinationRule', 'alpha/egress-mtls-a/VirtualService',
    'alpha/egress-mtls-b/ServiceEntry', 'alpha/egress-mtls-b/DestinationRule', 'alpha/egress-mtls-b/VirtualService',
    'zeta/egress-mtls-a/ServiceEntry', 'zeta/egress-mtls-a/DestinationRule', 'zeta/egress-mtls-a/VirtualService',
  ])
})

test('targets sharing a host in a namespace share its ServiceEntry (and VirtualService), named after the host; each keeps its DestinationRule', async (t) => {
  const merchants = [
    { name: 'merchant-a', host: 'api.bank.example.com', namespaces: ['payments'] },
    { name: 'merchant-b', host: 'api.bank.example.com', namespaces: ['payments', 'billing'], sni: 'b.bank.example.com', maxConnectionDuration: '1h' },
    { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['payments'] },
  ]
  for (const routing of ['targetPort', 'virtualService'] as const) {
    await t.test(routing, () => {
      const objects = render(config({ routing, targets: merchants }), 'prod')
      assertValid(objects)
      const vs = routing === 'virtualService'
      assert.deepEqual(objects.map((o) => `${o.metadata.namespace}/${o.metadata.name}/${o.kind}`), [
        // billing: merchant-b alone on its host there: as a target alone always was.
        'billing/egress-mtls-merchant-b/ServiceEntry', 'billing/egress-mtls-merchant-b/DestinationRule', ...(vs ? ['billing/egress-mtls-merchant-b/VirtualService'] : []),
        'payments/egress-mtls-merchant-a/DestinationRule',
        'payments/egress-mtls-merchant-b/DestinationRule',
        'payments/egress-mtls-tax-gw/ServiceEntry', 'payments/egress-mtls-tax-gw/DestinationRule', ...(vs ? ['payments/egress-mtls-tax-gw/VirtualService'] : []),
        'payments/egress-mtls.api.bank.example.com/ServiceEntry', ...(vs ? ['payments/egress-mtls.api.bank.example.com/VirtualService'] : []),
      ])
      const shared = find(objects, 'ServiceEntry', 'payments', 'egress-mtls.api.bank.example.com')
      // Ours (managed-by, instance), no one target's.
      assert.deepEqual(shared.metadata.labels, { 'app.kubernetes.io/managed-by': 'egress-mtls', 'egress-mtls.io/instance': 'prod' })
      // The same spec a target alone on the host gets.
      assert.deepEqual(shared.spec, find(objects, 'ServiceEntry', 'billing', 'egress-mtls-merchant-b').spec)
      if (vs) {
        const sharedVs = find(objects, 'VirtualService', 'payments', 'egress-mtls.api.bank.example.com')
        assert.deepEqual(sharedVs.metadata.labels, shared.metadata.labels)
        assert.deepEqual(sharedVs.spec, find(objects, 'VirtualService', 'billing', 'egress-mtls-merchant-b').spec)
      }
      for (const [name, sni] of [['merchant-a', 'api.bank.example.com'], ['merchant-b', 'b.bank.example.com']] as const) {
        const dr = find(objects, 'DestinationRule', 'payments', `egress-mtls-${name}`)
        assert.equal(dr.metadata.labels['egress-mtls.io/target'], name)
        assert.deepEqual(dr.spec?.['workloadSelector'], { matchLabels: { [`egress-mtls.io/${name}`]: 'true' } })
        const spec = dr.spec as { trafficPolicy: { portLevelSettings: { tls: Record<string, unknown> }[] } }
        const tls = spec.trafficPolicy.portLevelSettings[0]?.tls
        assert.equal(tls?.['clientCertificate'], certFiles('/etc/egress-mtls', name).cert)
        assert.equal(tls['sni'], sni)
      }
    })
  }
  await t.test('a configuration without a shared host renders as it always did: one set per target', () => {
    const objects = render(config({ targets: [merchants[0], merchants[2]] }))
    assert.deepEqual(objects.map((o) => o.metadata.name), ['egress-mtls-merchant-a', 'egress-mtls-merchant-a', 'egress-mtls-tax-gw', 'egress-mtls-tax-gw'])
  })
})

test('property: any targets on two hosts over three namespaces: one ServiceEntry per host and namespace, shared exactly where targets meet; a DestinationRule per target and namespace; names unique', () => {
  const NAMESPACES = ['n1', 'n2', 'n3']
  const HOSTS = ['a.example.com', 'b.example.com']
  const target = fc.record({ host: fc.constantFrom(...HOSTS), namespaces: fc.subarray(NAMESPACES, { minLength: 1 }) })
  fc.assert(fc.property(fc.array(target, { minLength: 1, maxLength: 6 }), fc.constantFrom('targetPort', 'virtualService'), (drawn, routing) => {
    const targets = drawn.map((t, i) => ({ name: `t${i}`, ...t }))
    const objects = render(config({ routing, targets }))
    assertValid(objects)
    const keys = objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)
    assert.equal(new Set(keys).size, keys.length, 'names are unique')
    for (const ns of NAMESPACES) {
      for (const host of HOSTS) {
        const meeting = targets.filter((t) => t.host === host && t.namespaces.includes(ns))
        const entries = objects.filter((o) => o.kind === 'ServiceEntry' && o.metadata.namespace === ns && (o.spec?.['hosts'] as string[])[0] === host)
        const routes = objects.filter((o) => o.kind === 'VirtualService' && o.metadata.namespace === ns && (o.spec?.['hosts'] as string[])[0] === host)
        const expected = meeting.length === 0 ? [] : [meeting.length > 1 ? `egress-mtls.${host}` : `egress-mtls-${meeting[0]?.name ?? ''}`]
        assert.deepEqual(entries.map((o) => o.metadata.name), expected)
        assert.deepEqual(routes.map((o) => o.metadata.name), routing === 'virtualService' ? expected : [])
        for (const t of meeting) {
          const rules = objects.filter((o) => o.kind === 'DestinationRule' && o.metadata.namespace === ns && o.metadata.labels['egress-mtls.io/target'] === t.name)
          assert.deepEqual(rules.map((o) => [o.metadata.name, o.spec?.['workloadSelector']]), [[`egress-mtls-${t.name}`, { matchLabels: { [`egress-mtls.io/${t.name}`]: 'true' } }]])
        }
      }
    }
  }), { numRuns: 200 })
})

test('no targets, no objects', () => {
  assert.deepEqual(render(config({})), [])
})

// Origination at the egress gateway (docs/design.md "Origination at an egress gateway").

const gatewayTarget = { ...bank, namespaces: ['payments', 'billing'], origination: 'egressGateway' }
const keyed = (objects: readonly IstioObject[]): string[] => objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)

test('egressGateway: the gateway side first (policy before what it guards), then each namespace\'s hop, then the routes', () => {
  const objects = render(config({ targets: [gatewayTarget] }))
  assertValid(objects)
  assert.deepEqual(keyed(objects), [
    'AuthorizationPolicy istio-system/egress-mtls-bank-api-gateway',
    'ServiceEntry istio-system/egress-mtls-bank-api-gateway',
    'DestinationRule istio-system/egress-mtls-bank-api-gateway',
    'VirtualService istio-system/egress-mtls-bank-api-gateway',
    'Gateway istio-system/egress-mtls-bank-api-gateway',
    'DestinationRule billing/egress-mtls-bank-api-hop',
    'DestinationRule payments/egress-mtls-bank-api-hop',
    'ServiceEntry billing/egress-mtls-bank-api',
    'VirtualService billing/egress-mtls-bank-api',
    'ServiceEntry payments/egress-mtls-bank-api',
    'VirtualService payments/egress-mtls-bank-api',
  ])
})

test('egressGateway: the gateway originates MUTUAL with credentialName, sni and the server names, as the sidecar would', () => {
  const objects = render(config({ targets: [{ ...gatewayTarget, sni: 'front.bank.example.com', maxConnectionDuration: '1h' }] }))
  const dr = find(objects, 'DestinationRule', 'istio-system', 'egress-mtls-bank-api-gateway')
  assert.deepEqual(dr.spec, {
    host: 'api.bank.example.com',
    exportTo: ['.'],
    trafficPolicy: {
      portLevelSettings: [{
        port: { number: 443 },
        connectionPool: { tcp: { maxConnectionDuration: '1h' } },
        tls: { mode: 'MUTUAL', credentialName: 'bank-api-mtls', sni: 'front.bank.example.com', subjectAltNames: ['front.bank.example.com'] },
      }],
    },
  })
  const sidecar = find(render(config({ targets: [{ ...bank, sni: 'front.bank.example.com' }] })), 'DestinationRule', 'payments')
  const tls = (o: IstioObject): Record<string, unknown> =>
    ((o.spec?.['trafficPolicy'] as { portLevelSettings: { tls: Record<string, unknown> }[] }).portLevelSettings[0]?.tls ?? {})
  assert.deepEqual([tls(dr)['sni'], tls(dr)['subjectAltNames']], [tls(sidecar)['sni'], tls(sidecar)['subjectAltNames']])
  assert.equal(JSON.stringify(objects).includes('/etc/egress-mtls'), false, 'no file path: the key is in the gateway\'s Secret')
})

test('egressGateway: a Gateway for the host (ISTIO_MUTUAL from the mesh), its route to host:port, the host\'s TLS port', () => {
  const objects = render(config({ targets: [gatewayTarget] }))
  assert.deepEqual(find(objects, 'Gateway', 'istio-system', 'egress-mtls-bank-api-gateway').spec, {
    selector: { istio: 'egressgateway' },
    servers: [{ port: { number: 443, name: 'https-egress-mtls-bank-api', protocol: 'HTTPS' }, hosts: ['./api.bank.example.com'], tls: { mode: 'ISTIO_MUTUAL' } }],
  })
  assert.deepEqual(find(objects, 'VirtualService', 'istio-system', 'egress-mtls-bank-api-gateway').spec, {
    hosts: ['api.bank.example.com'],
    gateways: ['egress-mtls-bank-api-gateway'],
    exportTo: ['.'],
    http: [{ route: [{ destination: { host: 'api.bank.example.com', port: { number: 443 } } }] }],
  })
  assert.deepEqual(find(objects, 'ServiceEntry', 'istio-system', 'egress-mtls-bank-api-gateway').spec, {
    hosts: ['api.bank.example.com'], exportTo: ['.'], location: 'MESH_EXTERNAL', resolution: 'DNS', ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }],
  })
})

test('egressGateway: labelled pods go to the gateway over ISTIO_MUTUAL (SNI the host), others get 403 from their sidecar', () => {
  const objects = render(config({ targets: [gatewayTarget] }))
  const hop = find(objects, 'DestinationRule', 'payments', 'egress-mtls-bank-api-hop')
  assert.deepEqual(hop.spec, {
    host: 'istio-egressgateway.istio-system.svc.cluster.local',
    exportTo: ['.'],
    subsets: [{ name: 'egress-mtls-bank-api', trafficPolicy: { portLevelSettings: [{ port: { number: 443 }, tls: { mode: 'ISTIO_MUTUAL', sni: 'api.bank.example.com' } }] } }],
  })
  const vs = find(objects, 'VirtualService', 'payments')
  assert.deepEqual(vs.spec?.['http'], [
    {
      name: 'opted-in',
      match: [{ port: 80, sourceLabels: { 'egress-mtls.io/bank-api': 'true' } }],
      route: [{ destination: { host: 'istio-egressgateway.istio-system.svc.cluster.local', subset: 'egress-mtls-bank-api', port: { number: 443 } } }],
    },
    {
      name: 'not-opted-in',
      match: [{ port: 80 }],
      directResponse: { status: 403, body: { string: 'egress-mtls: this workload is not opted in to target bank-api (label egress-mtls.io/inject, or egress-mtls.io/targets)\n' } },
    },
  ])
  // The ServiceEntry where the workloads are is the sidecar mode's: a move between modes leaves it alone.
  for (const routing of ['targetPort', 'virtualService']) {
    const gw = render(config({ routing, targets: [gatewayTarget] }))
    const sidecar = render(config({ routing, targets: [{ ...gatewayTarget, origination: 'sidecar' }] }))
    assert.deepEqual(find(gw, 'ServiceEntry', 'payments'), find(sidecar, 'ServiceEntry', 'payments'), routing)
  }
})

test('egressGateway: a DENY policy on the gateway, for the host\'s server (its SNI), from other namespaces; no HTTP attribute', () => {
  const objects = render(config({ targets: [gatewayTarget] }))
  assert.deepEqual(find(objects, 'AuthorizationPolicy', 'istio-system', 'egress-mtls-bank-api-gateway').spec, {
    selector: { matchLabels: { istio: 'egressgateway' } },
    action: 'DENY',
    rules: [{ from: [{ source: { notNamespaces: ['payments', 'billing'] } }], when: [{ key: 'connection.sni', values: ['api.bank.example.com'] }] }],
  })
})

test('egressGateway: a mesh-wide target has no policy and, its ServiceEntry being in the gateway\'s namespace, no second one', () => {
  const objects = render(config({ targets: [{ ...gatewayTarget, namespaces: ['*'] }] }))
  assertValid(objects)
  assert.deepEqual(keyed(objects), [
    'DestinationRule istio-system/egress-mtls-bank-api-gateway',
    'VirtualService istio-system/egress-mtls-bank-api-gateway',
    'Gateway istio-system/egress-mtls-bank-api-gateway',
    'DestinationRule istio-system/egress-mtls-bank-api-hop',
    'ServiceEntry istio-system/egress-mtls-bank-api',
    'VirtualService istio-system/egress-mtls-bank-api',
  ])
  assert.deepEqual(find(objects, 'VirtualService', 'istio-system').spec?.['exportTo'], ['*'])
})

test('egressGateway: the gateway block (namespace, selector, service, port) reaches every object that names the gateway', () => {
  const egressGateway = { namespace: 'istio-egress', selector: { app: 'egress', 'topology.example.com/zone': 'a' }, port: 8443 }
  const objects = render(config({ egressGateway, targets: [gatewayTarget] }))
  assertValid(objects)
  const service = 'istio-egressgateway.istio-egress.svc.cluster.local'
  assert.deepEqual(new Set(objects.filter((o) => o.metadata.name.endsWith('-gateway')).map((o) => o.metadata.namespace)), new Set(['istio-egress']))
  assert.deepEqual(find(objects, 'Gateway', 'istio-egress', 'egress-mtls-bank-api-gateway').spec?.['selector'], egressGateway.selector)
  assert.deepEqual((find(objects, 'AuthorizationPolicy', 'istio-egress', 'egress-mtls-bank-api-gateway').spec?.['selector']), { matchLabels: egressGateway.selector })
  const hop = find(objects, 'DestinationRule', 'billing', 'egress-mtls-bank-api-hop')
  assert.equal(hop.spec?.['host'], service)
  assert.match(JSON.stringify(hop.spec), /"number":8443/)
  assert.match(JSON.stringify(find(objects, 'VirtualService', 'billing').spec), new RegExp(`"host":"${service}","subset":"egress-mtls-bank-api","port":\\{"number":8443\\}`))
})

test('egressGateway beside sidecar targets: the sidecar targets\' objects are exactly what they are alone', () => {
  const sidecar = { name: 'tax', host: 'tax.example.com', namespaces: ['payments'] }
  for (const routing of ['targetPort', 'virtualService']) {
    const alone = render(config({ routing, targets: [sidecar] }))
    const mixed = render(config({ routing, targets: [gatewayTarget, sidecar] }))
    assert.deepEqual(mixed.filter((o) => o.metadata.labels['egress-mtls.io/target'] === 'tax'), alone)
  }
})

test('egressGateway: every combination of scope, routing, names and optional fields validates against the CRDs', () => {
  let count = 0
  for (const routing of ['targetPort', 'virtualService']) {
    for (const namespaces of [['payments'], ['payments', 'istio-system'], ['*']]) {
      for (const extra of [{}, { verifyServerName: false }, { subjectAltNames: ['a.example.com'], maxConnectionDuration: '90m', secretKeys: { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' } }]) {
        const objects = render(config({ routing, targets: [{ ...gatewayTarget, namespaces, ...extra }] }))
        assertValid(objects)
        count += objects.length
      }
    }
  }
  assert.ok(count > 80, `${count} objects validated`)
})
