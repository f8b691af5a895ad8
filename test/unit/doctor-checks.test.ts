// The pure checks of `doctor`, on real certificates (selfsigned: CA + client, SHA-256).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { resolveConfig } from '../../src/core/config.ts'
import jsonpatch from 'fast-json-patch'
import { checkResource, checkSecret, checkSidecarInjection, checkWorkload, differences, exitCode, formatFinding, type Finding, type Workload } from '../../src/core/doctor.ts'
import { admit } from '../../src/core/review.ts'
import { render } from '../../src/core/render.ts'
import { authority, clientMaterial, type ClientMaterial } from '../e2e/client-certs.ts'

const DAY_MS = 24 * 60 * 60 * 1000
const config = resolveConfig({
  targets: [{ name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['billing'], secretKeys: { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' } }],
})
const target = config.targets[0]!
const data = (m: ClientMaterial): Record<string, string> => ({ 'tls.crt': m.cert, 'tls.key': m.key, 'ca.crt': m.cacert })
const lines = (findings: readonly Finding[]): string[] => findings.map(formatFinding)
const levels = (findings: readonly Finding[]): string[] => findings.map((f) => f.level)

const good = await clientMaterial()

test('a good Secret: every check ok, with the days left', () => {
  const findings = checkSecret(target, 'billing', data(good), new Date())
  assert.deepEqual(levels(findings), ['ok', 'ok', 'ok', 'ok'], lines(findings).join('\n'))
  assert.equal(exitCode(findings), 0)
  assert.match(lines(findings)[0]!, /^ok Secret billing\/tax-gw-mtls \(target tax-gw\): keys tls\.crt, tls\.key, ca\.crt present$/)
  assert.match(lines(findings)[3]!, /^ok .*expires in 36[45] days \(\d{4}-\d\d-\d\d\)$/)
})

test('no Secret, missing or empty keys: fail naming them', () => {
  const none = checkSecret(target, 'billing', undefined, new Date())
  assert.deepEqual(lines(none), ['fail Secret billing/tax-gw-mtls (target tax-gw): not found; create it with keys tls.crt, tls.key, ca.crt'])
  assert.equal(exitCode(none), 1)
  const partial = checkSecret(target, 'billing', { 'tls.crt': good.cert, 'tls.key': ' \n', cert: good.cert }, new Date())
  assert.deepEqual(lines(partial), ['fail Secret billing/tax-gw-mtls (target tax-gw): missing or empty keys tls.key, ca.crt'])
})

test('a key of another certificate: fail "does not match"', async () => {
  const other = await clientMaterial({ ca: good.ca })
  const findings = checkSecret(target, 'billing', { ...data(good), 'tls.key': other.key }, new Date())
  assert.deepEqual(levels(findings), ['ok', 'fail', 'ok', 'ok'])
  assert.match(lines(findings)[1]!, /tls\.key does not match the certificate in tls\.crt/)
})

test('a certificate of another CA: fail "not signed by the CA"; a bundle holding the right CA too: ok', async () => {
  const stranger = await authority('another CA')
  const findings = checkSecret(target, 'billing', { ...data(good), 'ca.crt': stranger.cert }, new Date())
  assert.deepEqual(levels(findings), ['ok', 'ok', 'fail', 'ok'])
  assert.match(lines(findings)[2]!, /not signed by the CA in ca\.crt \(issuer CN=egress-mtls test CA\)/)
  const bundle = checkSecret(target, 'billing', { ...data(good), 'ca.crt': stranger.cert + good.cacert }, new Date())
  assert.deepEqual(levels(bundle), ['ok', 'ok', 'ok', 'ok'])
})

test('the chain may go through an intermediate sent after the leaf', async () => {
  const root = await authority('root')
  const intermediate = await authority('intermediate', root)
  const leaf = await clientMaterial({ ca: intermediate })
  const through = checkSecret(target, 'billing', { 'tls.crt': leaf.cert + intermediate.cert, 'tls.key': leaf.key, 'ca.crt': root.cert }, new Date())
  assert.deepEqual(levels(through), ['ok', 'ok', 'ok', 'ok'], lines(through).join('\n'))
  const without = checkSecret(target, 'billing', { 'tls.crt': leaf.cert, 'tls.key': leaf.key, 'ca.crt': root.cert }, new Date())
  assert.deepEqual(levels(without), ['ok', 'ok', 'fail', 'ok'])
})

test('expiry: fail when expired, warn under 30 days, fail when not yet valid', async () => {
  const soon = await clientMaterial({ ca: good.ca, validToDays: 10 })
  const warned = checkSecret(target, 'billing', data(soon), new Date())
  assert.equal(warned.at(-1)?.level, 'warn')
  assert.match(warned.at(-1)!.message, /expires in (9|10) days/)
  assert.equal(exitCode(warned), 0)

  const expired = checkSecret(target, 'billing', data(good), new Date(Date.now() + 400 * DAY_MS))
  assert.equal(expired.at(-1)?.level, 'fail')
  assert.match(expired.at(-1)!.message, /the certificate expired on \d{4}-\d\d-\d\d/)

  const reallyExpired = await clientMaterial({ ca: good.ca, validFromDays: -30, validToDays: -2 })
  assert.match(lines(checkSecret(target, 'billing', data(reallyExpired), new Date())).at(-1)!, /^fail .*expired on/)

  const future = checkSecret(target, 'billing', data(good), new Date(Date.now() - 2 * DAY_MS))
  assert.ok(future.some((f) => f.level === 'fail' && f.message.includes('not valid before')))
})

test('a server certificate used as client certificate: warn about clientAuth', async () => {
  const server = await clientMaterial({ ca: good.ca, extKeyUsage: 'serverAuth' })
  const findings = checkSecret(target, 'billing', data(server), new Date())
  assert.ok(findings.some((f) => f.level === 'warn' && f.message.includes('clientAuth')), lines(findings).join('\n'))
})

test('garbage instead of PEM: fail naming the key', () => {
  const findings = checkSecret(target, 'billing', { 'tls.crt': 'hello', 'tls.key': 'world', 'ca.crt': good.cacert }, new Date())
  assert.deepEqual(lines(findings).slice(1), [
    'fail Secret billing/tax-gw-mtls (target tax-gw): tls.crt is not a PEM certificate',
    'fail Secret billing/tax-gw-mtls (target tax-gw): tls.key is not a PEM private key',
  ])
})

test('Istio resources: missing, not ours, drifted, as rendered', () => {
  const [se, dr] = render(config)
  assert.ok(se && dr)
  const live = structuredClone({ ...dr, metadata: { ...dr.metadata, resourceVersion: '7' } })
  assert.equal(formatFinding(checkResource(dr, live)), 'ok DestinationRule billing/egress-mtls-tax-gw: as rendered')
  assert.match(formatFinding(checkResource(se, undefined)), /^fail ServiceEntry billing\/egress-mtls-tax-gw: not found; run egress-mtls provision$/)
  const drifted = structuredClone(live) as unknown as { spec: { trafficPolicy: { portLevelSettings: { tls: Record<string, unknown> }[] } } }
  drifted.spec.trafficPolicy.portLevelSettings[0]!.tls['mode'] = 'SIMPLE'
  drifted.spec.trafficPolicy.portLevelSettings[0]!.tls['insecureSkipVerify'] = true
  assert.equal(checkResource(dr, drifted as never).message,
    'DestinationRule billing/egress-mtls-tax-gw: differs from what render produces at spec.trafficPolicy.portLevelSettings[0].tls.mode, spec.trafficPolicy.portLevelSettings[0].tls.insecureSkipVerify; run egress-mtls provision')
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
  assert.equal(checkSidecarInjection('p', { 'istio.io/rev': 'canary' }).message, 'Namespace p: Istio sidecar injection enabled (istio.io/rev=canary)')
  assert.equal(checkSidecarInjection('p', {}, { 'sidecar.istio.io/inject': 'true' }).level, 'ok')
  assert.equal(checkSidecarInjection('p', { 'istio-injection': 'disabled', 'istio.io/rev': 'x' }).level, 'warn')
  assert.equal(checkSidecarInjection('p', {}).level, 'warn')
  assert.equal(checkSidecarInjection('p', { 'istio-injection': 'enabled' }, { 'sidecar.istio.io/inject': 'false' }).level, 'fail')
})

test('workload: injected as the webhook makes it, not injected, stale, not opted in', () => {
  const two = resolveConfig({ targets: [
    { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['billing'] },
    { name: 'bank-api', host: 'api.bank.example.com', namespaces: ['billing'] },
  ] })
  const deployment = (labels: Record<string, string>): Workload => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'billing', labels },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
  })
  const injectedWith = (w: Workload, c: typeof config): Workload => {
    const { patch } = admit({ uid: 'u', kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, namespace: 'billing', operation: 'CREATE', object: w }, c)
    assert.ok(patch.length > 0)
    return jsonpatch.applyPatch(structuredClone(w), structuredClone(patch) as jsonpatch.Operation[]).newDocument
  }
  const optedIn = deployment({ 'egress-mtls.io/inject': 'true' })

  assert.deepEqual(lines(checkWorkload(two, 'billing', {}, injectedWith(optedIn, two))), [
    'ok deployment/web: injected with tax-gw,bank-api (pod template as the webhook makes it)',
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

test('workload in namespace mode: the namespace must carry egress-mtls.io/injection=enabled', () => {
  const c = resolveConfig({ injection: 'namespace', targets: [{ name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['billing'] }] })
  const w: Workload = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db' }, spec: { template: { metadata: {} } } }
  const findings = checkWorkload(c, 'billing', {}, w)
  assert.match(lines(findings)[0]!, /^fail statefulset\/db: namespace billing is not labelled egress-mtls\.io\/injection=enabled/)
  assert.ok(!lines(checkWorkload(c, 'billing', { 'egress-mtls.io/injection': 'enabled' }, w)).some((l) => l.includes('not labelled')))
})
