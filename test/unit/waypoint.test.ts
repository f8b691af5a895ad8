// Waypoint mode (docs/design.md "Origination at a waypoint"): the `waypoint` block and
// `origination: waypoint` (defaults, validation) and what render gives for it, each Istio
// object validated against Istio 1.30.3's CRDs and the waypoint Gateway against the Gateway
// API's (test/fixtures/istio, test/fixtures/gateway-api, with their licences).
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { decide } from '../../src/core/admission/policy.ts'
import { type Config } from '../../src/core/config/config.ts'
import { checkWaypoint } from '../../src/core/doctor/waypoint.ts'
import { entryDiff } from '../../src/core/istio/diff.ts'
import { plan } from '../../src/core/istio/plan.ts'
import { GATEWAY_API_VERSION, ISTIO_GROUPS, ISTIO_KINDS, type IstioObject, render, renderWarnings } from '../../src/core/istio/render.ts'
import { watchScopes } from '../../src/core/tls/secret-reading.ts'
import { ConfigError } from '../../src/errors.ts'
import { parsedConfig, resolvedConfig } from '../support/config.ts'
import { crdValidators, gvk, schemaErrorsWith } from '../support/crd-schemas.ts'

const ISTIO_CRDS = new URL('../fixtures/istio/crds-1.30.3.yaml', import.meta.url)
const GATEWAY_API_CRDS = new URL('../fixtures/gateway-api/crds-v1.6.0-standard.yaml', import.meta.url)
const validators = crdValidators(
  [ISTIO_CRDS, GATEWAY_API_CRDS],
  [...ISTIO_KINDS.map((kind) => gvk(`${ISTIO_GROUPS[kind]}/v1`, kind)), gvk(GATEWAY_API_VERSION, 'Gateway')],
)

const issuesOf = (text: string): string[] => {
  try {
    parsedConfig(text, 'c.yaml')
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err))
    return err.issues.map((i) => `${i.line ?? '?'} ${i.path}: ${i.message}`)
  }
  return []
}

const bank = { name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments', 'billing'], origination: 'waypoint' }
const config = (raw: Record<string, unknown>): Config => resolvedConfig(raw)
const find = (objects: readonly IstioObject[], kind: string, name = 'egress-mtls-bank-api', apiVersion?: string): IstioObject => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name && (apiVersion === undefined || x.apiVersion === apiVersion))
  assert.ok(o, `${kind} ${name} not rendered`)
  return o
}
const tlsOf = (dr: IstioObject): unknown => (dr.spec?.['trafficPolicy'] as { portLevelSettings: unknown[] }).portLevelSettings

test('config: the waypoint of Istio\'s ambient egress guide by default (waypoint in istio-egress, not created); the user\'s when given', () => {
  const c = parsedConfig('targets:\n  - { name: a, host: a.example.com, namespaces: [x], origination: waypoint }\n')
  assert.deepEqual(c.waypoint, { name: 'waypoint', namespace: 'istio-egress', create: false })
  assert.equal(c.targets[0]?.origination, 'waypoint')
  assert.deepEqual(parsedConfig('waypoint: { name: bank-egress, namespace: egress, create: true }\ntargets: []\n').waypoint, { name: 'bank-egress', namespace: 'egress', create: true })
})

test('config: a malformed waypoint field is named with its line', () => {
  assert.deepEqual(issuesOf([
    'waypoint:', //                  1
    '  name: Waypoint', //           2
    '  namespace: istio_egress', //  3
    '  create: "yes"', //            4
    '  nmae: w', //                  5
    'targets: []', //                6
  ].join('\n')), [
    '2 waypoint.name: must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit)',
    '3 waypoint.namespace: must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit)',
    '4 waypoint.create: must be boolean',
    '5 waypoint.nmae: unknown field (did you mean "name"?)',
  ])
})

test('config: a waypoint target reads its Secret through credentialName (its keys), and has a host of its own', () => {
  assert.deepEqual(issuesOf('targets:\n  - { name: a, host: a.example.com, namespaces: [x], origination: waypoint, secretKeys: { cert: c } }\n'), [
    '2 targets[0].secretKeys: must be {cert: cert, key: key, cacert: cacert} or {cert: tls.crt, key: tls.key, cacert: ca.crt} with origination waypoint: the keys Istio\'s waypoint reads from credentialName',
  ])
  assert.deepEqual(issuesOf('targets:\n  - { name: a, host: a.example.com, namespaces: [x], origination: waypoint, secretKeys: { cert: tls.crt, key: tls.key, cacert: ca.crt } }\n'), [])
  const shared = (first: string, second: string): string[] =>
    issuesOf(`targets:\n  - { name: a, host: h.example.com, namespaces: [x]${first} }\n  - { name: b, host: h.example.com, namespaces: [y]${second} }\n`)
  const says = (which: string): string => `shares host "h.example.com" with targets[0] (a), but ${which} has origination: waypoint: every call through the waypoint ` +
    'to a host leaves with one client certificate; give it a host of its own, or use origination: sidecar for both'
  assert.deepEqual(shared('', ', origination: waypoint'), [`3 targets[1].origination: ${says('this target')}`])
  assert.deepEqual(shared(', origination: waypoint', ''), [`3 targets[1].host: ${says('targets[0] (a)')}`])
  assert.deepEqual(shared(', origination: waypoint', ', origination: waypoint'), [`3 targets[1].origination: ${says('this target')}`])
  assert.deepEqual(shared(', origination: egressGateway', ', origination: waypoint'), [`3 targets[1].origination: ${says('this target')}`])
})

test('render: everything in the waypoint\'s namespace, in apply order: the Secret reader, then per target its policy and DestinationRule before the ServiceEntry', () => {
  const objects = render(config({ targets: [bank] }))
  assert.deepEqual(objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`), [
    'Role istio-egress/egress-mtls-waypoint-secrets',
    'RoleBinding istio-egress/egress-mtls-waypoint-secrets',
    'AuthorizationPolicy istio-egress/egress-mtls-bank-api',
    'DestinationRule istio-egress/egress-mtls-bank-api',
    'ServiceEntry istio-egress/egress-mtls-bank-api',
  ])
  for (const o of objects.filter((x) => x.kind !== 'Role' && x.kind !== 'RoleBinding')) assert.deepEqual(schemaErrorsWith(validators, o), [], o.kind)
})

test('render: the ServiceEntry is bound to the waypoint and exported to the target\'s namespaces and its own; plain port routed to the TLS port', () => {
  const se = find(render(config({ targets: [bank] })), 'ServiceEntry')
  assert.equal(se.metadata.labels['istio.io/use-waypoint'], 'waypoint')
  assert.equal(se.metadata.labels['egress-mtls.io/target'], 'bank-api')
  assert.deepEqual(se.spec, {
    hosts: ['api.bank.example.com'],
    exportTo: ['.', 'payments', 'billing'],
    location: 'MESH_EXTERNAL',
    resolution: 'DNS',
    ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 443 }, { number: 443, name: 'https', protocol: 'HTTPS' }],
  })
  // routing: virtualService is the sidecar's; at the waypoint the ServiceEntry routes.
  assert.deepEqual(find(render(config({ routing: 'virtualService', targets: [bank] })), 'ServiceEntry').spec, se.spec)
  assert.deepEqual(find(render(config({ targets: [{ ...bank, namespaces: ['*'] }] })), 'ServiceEntry').spec?.['exportTo'], ['*'])
  assert.deepEqual(find(render(config({ waypoint: { namespace: 'payments' }, targets: [bank] })), 'ServiceEntry').spec?.['exportTo'], ['.', 'billing'])
})

test('render: the DestinationRule originates MUTUAL with credentialName, sni and the server names on the plain port, bounded like the sidecar\'s', () => {
  const dr = find(render(config({ targets: [bank] })), 'DestinationRule')
  assert.deepEqual(dr.spec?.['exportTo'], ['.'])
  assert.deepEqual(tlsOf(dr), [{
    port: { number: 80 },
    connectionPool: { tcp: { maxConnectionDuration: '1h' } },
    tls: { mode: 'MUTUAL', credentialName: 'bank-api-mtls', sni: 'api.bank.example.com', subjectAltNames: ['api.bank.example.com'] },
  }])
  const custom = find(render(config({ targets: [{ ...bank, plainPort: 8080, secretName: 'c', sni: 's.example.com', subjectAltNames: ['n.example.com'], maxConnectionDuration: 'off' }] })), 'DestinationRule')
  assert.deepEqual(tlsOf(custom), [{ port: { number: 8080 }, tls: { mode: 'MUTUAL', credentialName: 'c', sni: 's.example.com', subjectAltNames: ['n.example.com'] } }])
  const unchecked = config({ targets: [{ ...bank, verifyServerName: false }] })
  assert.deepEqual(tlsOf(find(render(unchecked), 'DestinationRule')), [{
    port: { number: 80 }, connectionPool: { tcp: { maxConnectionDuration: '1h' } }, tls: { mode: 'MUTUAL', credentialName: 'bank-api-mtls', sni: 'api.bank.example.com' },
  }])
  assert.match(renderWarnings(unchecked)[0] ?? '', /^target bank-api: verifyServerName is false: the waypoint accepts any server certificate/)
})

test('render: an ALLOW policy attached to the ServiceEntry lets only the target\'s namespaces call the host; a mesh-wide target has none', () => {
  const ap = find(render(config({ targets: [bank] })), 'AuthorizationPolicy')
  assert.deepEqual(ap.spec, {
    targetRefs: [{ kind: 'ServiceEntry', group: 'networking.istio.io', name: 'egress-mtls-bank-api' }],
    action: 'ALLOW',
    rules: [{ from: [{ source: { namespaces: ['payments', 'billing'] } }] }],
  })
  assert.equal(render(config({ targets: [{ ...bank, namespaces: ['*'] }] })).some((o) => o.kind === 'AuthorizationPolicy'), false)
})

test('render: the Role lets the waypoint\'s ServiceAccount (named after the waypoint) read Secrets in its own namespace only; one for all targets', () => {
  const objects = render(config({ waypoint: { name: 'bank-egress', namespace: 'egress' }, targets: [bank, { ...bank, name: 'tax', host: 'tax.example.org' }] }))
  const role = find(objects, 'Role', 'egress-mtls-bank-egress-secrets')
  const binding = find(objects, 'RoleBinding', 'egress-mtls-bank-egress-secrets')
  assert.equal(objects.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding').length, 2)
  assert.deepEqual(role, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'egress-mtls-bank-egress-secrets', namespace: 'egress', labels: { 'app.kubernetes.io/managed-by': 'egress-mtls', 'egress-mtls.io/instance': 'egress-mtls' } },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }],
  })
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'bank-egress', namespace: 'egress' }])
  assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'egress-mtls-bank-egress-secrets' })
  assert.equal(binding.metadata.namespace, 'egress')
})

test('render: waypoint.create adds the waypoint, a Gateway API Gateway of class istio-waypoint for services (HBONE on 15008), after the Secret reader', () => {
  const objects = render(config({ waypoint: { create: true }, targets: [bank] }), 'team-a')
  assert.deepEqual(objects.slice(0, 3).map((o) => `${o.apiVersion} ${o.kind}`), [
    'rbac.authorization.k8s.io/v1 Role', 'rbac.authorization.k8s.io/v1 RoleBinding', 'gateway.networking.k8s.io/v1 Gateway',
  ])
  const gateway = find(objects, 'Gateway', 'waypoint', GATEWAY_API_VERSION)
  assert.deepEqual(gateway.metadata, {
    name: 'waypoint',
    namespace: 'istio-egress',
    labels: { 'app.kubernetes.io/managed-by': 'egress-mtls', 'egress-mtls.io/instance': 'team-a', 'istio.io/waypoint-for': 'service' },
  })
  assert.deepEqual(gateway.spec, { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE', allowedRoutes: { namespaces: { from: 'Same' } } }] })
  assert.deepEqual(schemaErrorsWith(validators, gateway), [])
  assert.notDeepEqual(schemaErrorsWith(validators, { ...gateway, spec: { ...gateway.spec, listeners: [{ name: 'mesh', port: 15008 }] } }), [], 'the schema check can fail')
  assert.equal(render(config({ targets: [bank] })).some((o) => o.apiVersion === GATEWAY_API_VERSION), false)
})

test('render: waypoint targets beside sidecar and egressGateway ones leave theirs exactly as they are alone', () => {
  const others = [{ name: 'tax', host: 'tax.example.org', namespaces: ['payments'] }, { name: 'gw', host: 'gw.example.org', namespaces: ['payments'], origination: 'egressGateway' }]
  const alone = render(config({ targets: others }))
  const together = render(config({ targets: [bank, ...others] }))
  assert.deepEqual(together.filter((o) => o.metadata.labels['egress-mtls.io/target'] !== 'bank-api' && o.kind !== 'Role' && o.kind !== 'RoleBinding'), alone)
  assert.deepEqual(render(config({ targets: [] })), [])
})

test('render: every combination of scope, names and optional fields validates against the CRDs', () => {
  for (const namespaces of [['payments'], ['*'], ['istio-egress', 'payments']]) {
    for (const extra of [{}, { port: 8443, plainPort: 8080, sni: 's.example.com', subjectAltNames: ['a.example.com', 'b.example.com'] }, { verifyServerName: false, maxConnectionDuration: 0 }]) {
      for (const o of render(config({ waypoint: { create: true }, targets: [{ ...bank, namespaces, ...extra }] }))) {
        if (o.kind === 'Role' || o.kind === 'RoleBinding') continue
        assert.deepEqual(schemaErrorsWith(validators, o), [], `${o.kind} ${JSON.stringify({ namespaces, extra })}`)
      }
    }
  }
})

test('webhook: a waypoint target is never injected; a workload that asks for it hears why, by default or by name', () => {
  const c = config({ targets: [bank, { name: 'tax', host: 'tax.example.org', namespaces: ['payments'] }] })
  const why = 'target bank-api originates at the ambient waypoint istio-egress/waypoint: nothing is injected for it (ztunnel carries the workload\'s plain calls ' +
    'to the waypoint, which presents the client certificate; the namespace needs label istio.io/dataplane-mode: ambient)'
  const opted = decide(c, 'payments', { 'egress-mtls.io/inject': 'true' }, {})
  assert.deepEqual(opted.targets.map((t) => t.name), ['tax'])
  assert.deepEqual(opted.warnings, [{ code: 'EMTLS_TARGET_AT_WAYPOINT', text: why }])
  const named = decide(c, 'payments', { 'egress-mtls.io/inject': 'true' }, { 'egress-mtls.io/targets': 'bank-api' })
  assert.deepEqual(named.targets, [])
  assert.deepEqual(named.warnings.map((w) => w.code), ['EMTLS_TARGET_AT_WAYPOINT'])
  // Only a waypoint target in the namespace: the reason, not "no target is available".
  assert.deepEqual(decide(c, 'billing', { 'egress-mtls.io/inject': 'true' }, {}), { targets: [], warnings: [{ code: 'EMTLS_TARGET_AT_WAYPOINT', text: why }] })
  // Not opted in: nothing said.
  assert.deepEqual(decide(c, 'billing', {}, {}), { targets: [], warnings: [] })
})

test('monitor: a waypoint target\'s Secret is watched in the waypoint\'s namespace only, a mesh-wide one too', () => {
  const c = config({ waypoint: { namespace: 'egress' }, targets: [bank, { ...bank, name: 'everywhere', host: 'all.example.net', namespaces: ['*'] }] })
  assert.deepEqual(watchScopes(c), [{ namespace: 'egress', secretName: 'bank-api-mtls' }, { namespace: 'egress', secretName: 'everywhere-mtls' }])
})

test('doctor: the namespace enrolled in ambient, the waypoint present, of class istio-waypoint, serving services', () => {
  const c = config({ waypoint: { name: 'bank-egress', namespace: 'egress' }, targets: [bank] })
  const lines = (labels: Record<string, string>, gw?: { labels: Record<string, string>, gatewayClassName?: string }): string[] =>
    checkWaypoint(c, 'payments', labels, gw).map((f) => `${f.level} ${f.subject}: ${f.message}`)
  const ambient = { 'istio.io/dataplane-mode': 'ambient' }
  assert.deepEqual(lines(ambient, { labels: {}, gatewayClassName: 'istio-waypoint' }), [
    'ok Namespace payments: enrolled in ambient (istio.io/dataplane-mode=ambient): its calls reach the waypoint',
    'ok waypoint egress/bank-egress: an istio-waypoint serving services (istio.io/waypoint-for=service)',
  ])
  assert.deepEqual(lines({}, undefined), [
    'fail Namespace payments: not enrolled in ambient (no label istio.io/dataplane-mode): nothing carries its calls to the waypoint, so waypoint targets get no client certificate; label it istio.io/dataplane-mode=ambient',
    'fail waypoint egress/bank-egress: not found: nothing originates the mutual TLS of waypoint targets; create it (istioctl waypoint apply -n egress --name bank-egress) or set waypoint.create: true',
  ])
  assert.match(lines({ 'istio.io/dataplane-mode': 'none' }, { labels: { 'istio.io/waypoint-for': 'workload' }, gatewayClassName: 'istio-waypoint' }).join('\n'),
    /fail Namespace payments: not enrolled in ambient \(istio.io\/dataplane-mode=none\)[^\n]*\nfail waypoint egress\/bank-egress: serves istio.io\/waypoint-for=workload, not services/)
  assert.match(lines(ambient, { labels: {}, gatewayClassName: 'istio' })[1] ?? '', /^fail waypoint egress\/bank-egress: is of class istio, not istio-waypoint/)
})

test('provision\'s plan: a Role whose rules were widened is an update, its diff showing the rules; its RoleBinding\'s subjects likewise', () => {
  const desired = render(config({ targets: [bank] }))
  const role = find(desired, 'Role', 'egress-mtls-waypoint-secrets')
  const binding = find(desired, 'RoleBinding', 'egress-mtls-waypoint-secrets')
  const widened = { ...role, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['*'] }] }
  const other = { ...binding, subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'istio-egress' }] }
  const entries = plan(desired, [...desired.filter((o) => o !== role && o !== binding), widened, other], { instance: 'egress-mtls' })
  assert.deepEqual(entries.map((e) => `${e.action} ${e.kind}`), ['update Role', 'update RoleBinding', 'unchanged AuthorizationPolicy', 'unchanged DestinationRule', 'unchanged ServiceEntry'])
  assert.match(entryDiff(entries[0] ?? assert.fail()), /-\s+- "\*"\n\+\s+- get\n\+\s+- list\n\+\s+- watch/)
  assert.match(entryDiff(entries[1] ?? assert.fail()), /-\s+name: default\n\+\s+name: waypoint/)
})
