// The pure checks of `doctor` on Istio objects, workloads and namespaces (the client
// material's checks: client-material.test.ts).
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { admit } from '../../src/core/admission/admit.ts'
import { applyPatch } from '../../src/core/admission/apply-patch.ts'
import { type Finding, formatFinding } from '../../src/core/base/findings.ts'
import { type Config } from '../../src/core/config/config.ts'
import { checkResource, checkServerNameVerification, checkSidecarInjection, checkWorkload, differences, scanNamespace, type Workload } from '../../src/core/doctor/doctor.ts'
import { checkGatewayWorkload } from '../../src/core/doctor/gateway.ts'
import { render } from '../../src/core/istio/render.ts'
import { resolvedConfig } from '../support/config.ts'

const config = resolvedConfig({
  targets: [{ name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['billing'], secretKeys: { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' } }],
})
const lines = (findings: readonly Finding[]): string[] => findings.map(formatFinding)

test('Istio resources: missing, not ours, drifted, as rendered', () => {
  const [se, dr] = render(config)
  assert.ok(se && dr)
  const live = structuredClone({ ...dr, metadata: { ...dr.metadata, resourceVersion: '7' } })
  assert.equal(formatFinding(checkResource(dr, live)), 'ok DestinationRule billing/egress-mtls-tax-gw: as rendered')
  assert.match(formatFinding(checkResource(se, undefined)), /^fail ServiceEntry billing\/egress-mtls-tax-gw: not found; run egress-mtls provision$/)
  const drifted = structuredClone(live) as unknown as { spec: { trafficPolicy: { portLevelSettings: { tls: Record<string, unknown> }[] } } }
  drifted.spec.trafficPolicy.portLevelSettings[0]!.tls['mode'] = 'SIMPLE'
  drifted.spec.trafficPolicy.portLevelSettings[0]!.tls['insecureSkipVerify'] = true
  assert.equal(formatFinding(checkResource(dr, drifted as never)),
    'fail DestinationRule billing/egress-mtls-tax-gw: differs from what render produces at spec.trafficPolicy.portLevelSettings[0].tls.mode, spec.trafficPolicy.portLevelSettings[0].tls.insecureSkipVerify; run egress-mtls provision')
  const unlabelled = { ...live, metadata: { ...live.metadata, labels: { 'app.kubernetes.io/managed-by': 'egress-mtls' } } }
  assert.match(checkResource(dr, unlabelled).message, /lacks the labels egress-mtls\.io\/instance=egress-mtls, egress-mtls\.io\/target=tax-gw/)
})

test('differences: paths of changed, added and removed values', () => {
  assert.deepEqual(differences({ a: [1, { b: 2 }], c: 3 }, { a: [1, { b: 3 }], d: 4 }, 'spec'), ['spec.a[1].b', 'spec.c', 'spec.d'])
  assert.deepEqual(differences({ a: [1, 2] }, { a: [1] }, 'spec'), ['spec.a'])
  assert.deepEqual(differences({ a: 1 }, { a: 1 }, 'spec'), [])
})

test('sidecar injection: namespace label, revision label, pod-template label, or a warning', () => {
  assert.equal(checkSidecarInjection('p', { 'istio-injection': 'enabled' }).level, 'ok')
  assert.equal(formatFinding(checkSidecarInjection('p', { 'istio.io/rev': 'canary' })), 'ok Namespace p: Istio sidecar injection enabled (istio.io/rev=canary)')
  assert.equal(checkSidecarInjection('p', {}, { 'sidecar.istio.io/inject': 'true' }).level, 'ok')
  assert.equal(checkSidecarInjection('p', { 'istio-injection': 'disabled', 'istio.io/rev': 'x' }).level, 'warn')
  assert.equal(checkSidecarInjection('p', {}).level, 'warn')
  assert.equal(checkSidecarInjection('p', { 'istio-injection': 'enabled' }, { 'sidecar.istio.io/inject': 'false' }).level, 'fail')
})

const deployment = (labels: Record<string, string>, name = 'web', podLabels: Record<string, string> = {}): Workload => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'billing', labels },
  spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name, ...podLabels } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
})
const injectedWith = (w: Workload, c: Config): Workload => {
  const { patch } = admit({ uid: 'u', kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, namespace: 'billing', operation: 'CREATE', object: w }, c)
  assert.ok(patch.length > 0)
  return applyPatch(w, patch) as Workload
}

test('workload: injected as the webhook makes it, not injected, stale, not opted in', () => {
  const two = resolvedConfig({ targets: [
    { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['billing'] },
    { name: 'bank-api', host: 'api.bank.example.com', namespaces: ['billing'] },
  ] })
  const optedIn = deployment({ 'egress-mtls.io/inject': 'true' })

  assert.deepEqual(lines(checkWorkload(two, 'billing', {}, injectedWith(optedIn, two))), [
    'ok deployment/web: injected with tax-gw,bank-api (pod template as the webhook makes it)',
    'ok deployment/web: presents to gw.tax.example.org the client certificate of target tax-gw (Secret billing/tax-gw-mtls)',
    'ok deployment/web: presents to api.bank.example.com the client certificate of target bank-api (Secret billing/bank-api-mtls)',
  ])
  assert.deepEqual(lines(checkWorkload(two, 'billing', {}, optedIn)), [
    'fail deployment/web: not injected (no egress-mtls.io/injected on the pod template); with the webhook running, re-apply it or run kubectl rollout restart deployment/web',
  ])
  const stale = checkWorkload(two, 'billing', {}, injectedWith(optedIn, config))
  assert.equal(stale.length, 1)
  assert.match(formatFinding(stale[0]!), /^fail deployment\/web: injected with tax-gw, but the webhook would now change .*sidecar\.istio\.io\/userVolume.*egress-mtls\.io\/injected/)
  assert.deepEqual(lines(checkWorkload(two, 'billing', {}, deployment({}))), ['fail deployment/web: not opted in (label it egress-mtls.io/inject=true)'])
  const narrowed = checkWorkload(two, 'billing', {}, { ...optedIn, metadata: { ...optedIn.metadata, annotations: { 'egress-mtls.io/targets': 'nope' } } })
  assert.ok(narrowed.every((f) => f.level === 'fail'))
  assert.match(lines(narrowed).join('\n'), /unknown target "nope"/)
})

test('targets sharing a host: each workload presents the certificate of the target it names; one naming none is told; a gateway target\'s is the gateway\'s', () => {
  const shared = resolvedConfig({ targets: [
    { name: 'merchant-a', host: 'api.bank.example.com', namespaces: ['billing'] },
    { name: 'merchant-b', host: 'api.bank.example.com', namespaces: ['billing'], secretName: 'b-client' },
    { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['billing'], origination: 'egressGateway' },
  ] })
  const naming = (name: string, targets?: string): Workload => {
    const w = deployment({ 'egress-mtls.io/inject': 'true' }, name)
    return injectedWith(targets === undefined ? w : { ...w, metadata: { ...w.metadata, annotations: { 'egress-mtls.io/targets': targets } } }, shared)
  }
  const findings = scanNamespace(shared, 'billing', {}, [naming('shop-a', 'merchant-a,tax-gw'), naming('shop-b', 'merchant-b'), naming('plain')])
  assert.deepEqual(lines(findings), [
    'ok deployment/shop-a: injected with merchant-a,tax-gw (pod template as the webhook makes it)',
    'ok deployment/shop-a: presents to api.bank.example.com the client certificate of target merchant-a (Secret billing/merchant-a-mtls)',
    'ok deployment/shop-a: calls gw.tax.example.org through the egress gateway, which presents the client certificate of target tax-gw (Secret istio-system/tax-gw-mtls)',
    'ok deployment/shop-b: injected with merchant-b (pod template as the webhook makes it)',
    'ok deployment/shop-b: presents to api.bank.example.com the client certificate of target merchant-b (Secret billing/b-client)',
    'ok deployment/plain: injected with tax-gw (pod template as the webhook makes it)',
    'ok deployment/plain: calls gw.tax.example.org through the egress gateway, which presents the client certificate of target tax-gw (Secret istio-system/tax-gw-mtls)',
    'warn deployment/plain: targets merchant-a, merchant-b share host api.bank.example.com: none of them is injected unless annotation egress-mtls.io/targets names the one this workload presents',
    'ok Namespace billing: 3 workloads scanned, 3 asking for egress-mtls, 3 injected as the webhook makes them',
  ])
})

test('workload in namespace mode: the namespace must carry egress-mtls.io/injection=enabled', () => {
  const c = resolvedConfig({ injection: 'namespace', targets: [{ name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['billing'] }] })
  const w: Workload = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db' }, spec: { template: { metadata: {} } } }
  const findings = checkWorkload(c, 'billing', {}, w)
  assert.match(lines(findings)[0]!, /^fail statefulset\/db: namespace billing is not labelled egress-mtls\.io\/injection=enabled/)
  assert.ok(!lines(checkWorkload(c, 'billing', { 'egress-mtls.io/injection': 'enabled' }, w)).some((l) => l.includes('not labelled')))
})

test('label mode: a workload labelled inject=yes, or labelled on its pod template only, is never seen by the webhook: doctor says so', () => {
  const yes = checkWorkload(config, 'billing', {}, deployment({ 'egress-mtls.io/inject': 'yes' }))
  assert.deepEqual(lines(yes), [
    'fail deployment/web: label egress-mtls.io/inject is "yes", neither "true" (opt in) nor "false" (opt out): nothing injected',
    'fail deployment/web: the webhook never sees it: in label mode its objectSelector matches egress-mtls.io/inject: "true" on the Deployment itself only, so kubectl shows no warning; label the Deployment egress-mtls.io/inject=true',
  ])
  const onTemplate = checkWorkload(config, 'billing', {}, deployment({}, 'web', { 'egress-mtls.io/inject': 'true' }))
  assert.deepEqual(lines(onTemplate), [
    "fail deployment/web: label egress-mtls.io/inject is on the pod template; the Deployment's own labels opt it in: nothing injected",
    'fail deployment/web: the webhook never sees it: in label mode its objectSelector matches egress-mtls.io/inject: "true" on the Deployment itself only, so kubectl shows no warning; label the Deployment egress-mtls.io/inject=true',
  ])
  // In namespace mode the webhook sees a "yes" (its objectSelector only excludes "false"): its warning reaches kubectl.
  const ns = resolvedConfig({ injection: 'namespace', targets: [{ name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['billing'] }] })
  assert.ok(!lines(checkWorkload(ns, 'billing', { 'egress-mtls.io/injection': 'enabled' }, deployment({ 'egress-mtls.io/inject': 'yes' }))).some((l) => l.includes('never sees it')))
})

test('namespace scan: every workload asking for egress-mtls is checked, the others are counted', () => {
  const optedIn = deployment({ 'egress-mtls.io/inject': 'true' }, 'good')
  const replicaSet: Workload = {
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: { name: 'good-5d4f', labels: { 'egress-mtls.io/inject': 'yes' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'good', controller: true }] },
    spec: { template: { metadata: {} } },
  }
  const cronJob: Workload = {
    apiVersion: 'batch/v1', kind: 'CronJob',
    metadata: { name: 'nightly', labels: { 'egress-mtls.io/inject': 'yes' } },
    spec: { jobTemplate: { spec: { template: { metadata: {} } } } },
  }
  const job: Workload = {
    apiVersion: 'batch/v1', kind: 'Job',
    metadata: { name: 'nightly-1', labels: { 'egress-mtls.io/inject': 'yes' }, ownerReferences: [{ kind: 'CronJob', name: 'nightly', controller: true }] },
    spec: { template: { metadata: {} } },
  }
  const workloads = [
    injectedWith(optedIn, config),
    deployment({ 'egress-mtls.io/inject': 'yes' }, 'yes'),
    deployment({}, 'templated', { 'egress-mtls.io/inject': 'true' }),
    deployment({}, 'plain'),
    deployment({ 'egress-mtls.io/inject': 'false' }, 'out'),
    replicaSet, cronJob, job,
  ]
  const findings = scanNamespace(config, 'billing', {}, workloads)
  assert.deepEqual(lines(findings).map((l) => l.replace(/: the webhook never sees it: .*/, ': the webhook never sees it: ...')), [
    'ok deployment/good: injected with tax-gw (pod template as the webhook makes it)',
    'ok deployment/good: presents to gw.tax.example.org the client certificate of target tax-gw (Secret billing/tax-gw-mtls)',
    'fail deployment/yes: label egress-mtls.io/inject is "yes", neither "true" (opt in) nor "false" (opt out): nothing injected',
    'fail deployment/yes: the webhook never sees it: ...',
    "fail deployment/templated: label egress-mtls.io/inject is on the pod template; the Deployment's own labels opt it in: nothing injected",
    'fail deployment/templated: the webhook never sees it: ...',
    'fail cronjob/nightly: label egress-mtls.io/inject is "yes", neither "true" (opt in) nor "false" (opt out): nothing injected',
    'fail cronjob/nightly: the webhook never sees it: ...',
    'ok Namespace billing: 6 workloads scanned, 4 asking for egress-mtls, 1 injected as the webhook makes it',
  ])
  assert.deepEqual(lines(scanNamespace(config, 'billing', {}, [])), ['ok Namespace billing: 0 workloads scanned, 0 asking for egress-mtls, 0 injected as the webhook makes them'])
})

test('namespace scan in namespace mode: an unlabelled namespace is one finding, not one per workload', () => {
  const ns = resolvedConfig({ injection: 'namespace', targets: [{ name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['billing'] }] })
  const workloads = [deployment({}, 'a'), deployment({}, 'b'), deployment({ 'egress-mtls.io/inject': 'false' }, 'c')]
  assert.deepEqual(lines(scanNamespace(ns, 'billing', {}, workloads)), [
    'fail Namespace billing: not labelled egress-mtls.io/injection=enabled (injection: namespace): the webhook sees none of its 2 workloads',
  ])
  assert.deepEqual(lines(scanNamespace(ns, 'elsewhere', {}, workloads)), [])
  const scanned = scanNamespace(ns, 'billing', { 'egress-mtls.io/injection': 'enabled' }, workloads)
  assert.deepEqual(lines(scanned).slice(0, 2), [
    'fail deployment/a: not injected (no egress-mtls.io/injected on the pod template); with the webhook running, re-apply it or run kubectl rollout restart deployment/a',
    'fail deployment/b: not injected (no egress-mtls.io/injected on the pod template); with the webhook running, re-apply it or run kubectl rollout restart deployment/b',
  ])
  assert.equal(lines(scanned)[2], 'ok Namespace billing: 3 workloads scanned, 2 asking for egress-mtls, 0 injected as the webhook makes them')
})

test('a target with verifyServerName: false warns (the sidecar accepts any name cacert verifies)', () => {
  assert.equal(checkServerNameVerification(config.targets[0]!), undefined)
  const unverified = resolvedConfig({ targets: [{ name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['billing'], verifyServerName: false }] })
  const off = checkServerNameVerification(unverified.targets[0]!)
  assert.equal(off === undefined ? '' : formatFinding(off),
    'warn target tax-gw: verifyServerName is false: the sidecar accepts any server certificate cacert verifies, whatever name it carries (not only gw.tax.example.org)')
})

test('the egress gateway: its Service and a ready pod, one line each', () => {
  const gateway = resolvedConfig({ targets: [] }).egressGateway
  const lines = (service: boolean, pods: { name: string, ready: boolean }[]): string[] =>
    checkGatewayWorkload(gateway, service, pods).map(formatFinding)
  assert.deepEqual(lines(true, [{ name: 'a', ready: true }, { name: 'b', ready: false }]), [
    'ok Service istio-system/istio-egressgateway: the egress gateway\'s Service (istio-egressgateway.istio-system.svc.cluster.local) exists',
    'ok egress gateway istio-system/istio=egressgateway: 1 of 2 pods ready',
  ])
  assert.deepEqual(lines(false, [{ name: 'a', ready: false }]), [
    'fail Service istio-system/istio-egressgateway: not found: the sidecars send egressGateway targets to istio-egressgateway.istio-system.svc.cluster.local; install Istio\'s gateway chart there (or set egressGateway.service)',
    'fail egress gateway istio-system/istio=egressgateway: 1 pod labelled istio=egressgateway, none ready',
  ])
  assert.deepEqual(lines(true, []).at(-1), 'fail egress gateway istio-system/istio=egressgateway: no pod labelled istio=egressgateway in namespace istio-system: nothing originates the mutual TLS of egressGateway targets')
})
