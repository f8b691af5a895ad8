// Istio tier: every object egress-mtls renders passes istiod's validating webhook (its own
// code, in istio-check: decoding, CRD conversion, the pkg/config/validation rules of each
// kind, the field check) with no error and no warning, for every combination of routing,
// workloadSelector, scope and optional field.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import fc from 'fast-check'

import { type IstioObject, render } from '../../src/core/istio/render.ts'
import { resolvedConfig } from '../support/config.ts'
import { configArbitrary, validConfig } from '../support/config-arbitrary.ts'
import { BUILD_TIMEOUT_MS, egressMtls, istioCheckBinary, validate, yamlDocuments } from './istio-check.ts'

await test('istio-check is built (or found in the cache)', { timeout: BUILD_TIMEOUT_MS }, async () => {
  await istioCheckBinary()
})

const bank = { name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'] }

/** Every combination the configuration allows, as distinct objects. */
function allRendered (): IstioObject[] {
  const out: IstioObject[] = []
  let i = 0
  for (const routing of ['targetPort', 'virtualService']) {
    for (const workloadSelector of [true, false]) {
      for (const namespaces of [['payments'], ['payments', 'billing'], ['*']]) {
        for (const names of [{}, { sni: 'front.bank.example.com' }, { subjectAltNames: ['bank.example.com', 'spiffe://bank.example.com/ns/x/sa/y'] }, { verifyServerName: false }]) {
          for (const extra of [{}, { maxConnectionDuration: '1h30m' }, { port: 8443, plainPort: 8080, secretName: 'custom-secret', secretKeys: { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' } }]) {
            // A namespace per case, so that every object reaches istiod under its own name.
            const suffix = String(i++)
            const ns = namespaces.map((n) => n === '*' ? n : `${n}-${suffix}`)
            out.push(...render(resolvedConfig({
              routing,
              workloadSelector,
              meshRootNamespace: `mesh-root-${suffix}`,
              mountRoot: i % 2 === 0 ? '/etc/egress-mtls' : '/var/run/secrets/bank',
              targets: [
                { ...bank, namespaces: ns, ...names, ...extra },
                { name: 'z', host: 'z.example.com', port: 1, plainPort: 65535, namespaces: [`other-${suffix}`] },
              ],
            })))
          }
        }
      }
    }
  }
  return out
}

test('istiod accepts every rendered object with no error and no warning', async () => {
  const objects = allRendered()
  const verdicts = await validate(yamlDocuments(objects))
  assert.equal(verdicts.length, objects.length)
  const kinds = new Set<string>()
  for (const [i, v] of verdicts.entries()) {
    const o = objects[i]!
    assert.deepEqual([v.kind, v.namespace, v.name], [o.kind, o.metadata.namespace, o.metadata.name])
    assert.deepEqual({ allowed: v.allowed, message: v.message, warnings: v.warnings }, { allowed: true, message: undefined, warnings: [] },
      `${o.kind} ${o.metadata.namespace}/${o.metadata.name}: ${JSON.stringify(o.spec)}`)
    kinds.add(o.kind)
  }
  assert.deepEqual([...kinds].sort(), ['DestinationRule', 'ServiceEntry', 'VirtualService'])
  assert.ok(objects.length > 400, `${objects.length} objects`)
})

test('generated configurations, at the edges of the schema, render objects istiod accepts without warning', async () => {
  const seed = Date.now() % 2 ** 31
  const objects: { object: IstioObject, raw: unknown }[] = []
  let configs = 0
  for (const raw of fc.sample(configArbitrary(['payments', 'billing', 'istio-system']), { numRuns: 300, seed })) {
    const config = validConfig(raw)
    if (config === undefined) continue // not a valid configuration: nothing to render
    configs++
    // istiod validates Istio's kinds; a waypoint's Role, RoleBinding and Gateway API Gateway meet the API server's schemas (e2e tier).
    for (const object of render(config).filter((o) => o.apiVersion.includes('.istio.io/'))) objects.push({ object, raw })
  }
  assert.ok(configs > 50, `only ${configs} of 300 generated configurations were valid`)
  const verdicts = await validate(yamlDocuments(objects.map((o) => o.object)))
  assert.equal(verdicts.length, objects.length)
  for (const [i, v] of verdicts.entries()) {
    const { object, raw } = objects[i]!
    assert.deepEqual([v.allowed, v.message, v.warnings], [true, undefined, []],
      `seed ${seed}: ${object.kind} ${object.metadata.namespace}/${object.metadata.name}: ${JSON.stringify(object.spec)}\nconfiguration: ${JSON.stringify(raw)}`)
  }
})

test('what `egress-mtls render` prints passes istiod too', async () => {
  const r = await egressMtls(['render', '--config', 'examples/config.yaml'])
  assert.equal(r.code, 0, r.stderr)
  const verdicts = await validate(r.stdout)
  assert.ok(verdicts.length > 0)
  for (const v of verdicts) assert.deepEqual([v.allowed, v.warnings], [true, []], `${v.kind} ${v.namespace}/${v.name}: ${v.message ?? ''}`)
})

test('the checker does reject and warn: istiod\'s errors and warnings reach the test', async () => {
  const [se, dr] = render(resolvedConfig({ targets: [bank] }))
  assert.ok(se && dr)
  const drSpec = dr.spec as { trafficPolicy: { portLevelSettings: { tls: Record<string, unknown> }[] } }
  const tls = drSpec.trafficPolicy.portLevelSettings[0]!.tls
  const noKey = { ...dr, spec: { ...dr.spec, trafficPolicy: { portLevelSettings: [{ port: { number: 80 }, tls: { ...tls, privateKey: undefined } }] } } }
  const emptySelector = { ...dr, spec: { ...dr.spec, workloadSelector: { matchLabels: {} } } }
  const deprecated = { ...dr, spec: { ...dr.spec, trafficPolicy: { ...drSpec.trafficPolicy, outlierDetection: { consecutiveErrors: 5 } } } }
  const badPort = { ...se, spec: { ...se.spec, ports: [{ number: 0, name: 'http', protocol: 'HTTP' }] } }
  const [missingKey, selector, outlier, port] = await validate(yamlDocuments([noKey, emptySelector, deprecated, badPort]))
  assert.equal(missingKey?.allowed, false)
  assert.match(missingKey.message ?? '', /private key/i)
  assert.equal(selector?.allowed, true)
  assert.notDeepEqual(selector.warnings, [], 'an empty workload selector is a warning')
  assert.equal(outlier?.allowed, true)
  assert.match(outlier.warnings.join('\n'), /consecutive errors is deprecated/)
  assert.equal(port?.allowed, false, 'port 0 is rejected')
})
