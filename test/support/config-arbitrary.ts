// fast-check arbitraries of whole configurations: every field the schema allows, drawn from
// the edges of what it allows (63-character DNS labels, 253-character names, the largest
// and smallest durations, every optional field present or absent). Raw configurations,
// before defaults: validConfig() keeps those that validate.
import fc from 'fast-check'

import { RESERVED_TARGET_NAMES } from '../../src/core/base/names.ts'
import type { Config } from '../../src/core/config/config.ts'
import { resolveConfig } from '../../src/core/config/parse.ts'

const alnum = 'abcdefghijklmnopqrstuvwxyz0123456789'
const letters = fc.constantFrom(...alnum.split(''))

/** A DNS-1123 label of 1..max characters, biased to both ends of the range. */
export const dnsLabel = (max = 63): fc.Arbitrary<string> =>
  fc.oneof(
    fc.stringMatching(/^[a-z]([-a-z0-9]{0,8}[a-z0-9])?$/),
    fc.tuple(letters, fc.string({ unit: fc.constantFrom(...`${alnum}-`.split('')), minLength: max - 2, maxLength: max - 2 }), letters).map(([a, m, b]) => `${a}${m}${b}`),
  ).filter((s) => s.length <= max)

/** A DNS name up to 253 characters, without wildcard, not ending in a numeric label. */
export const dnsName: fc.Arbitrary<string> = fc.array(dnsLabel(), { minLength: 1, maxLength: 5 })
  .map((labels) => `${labels.join('.')}.example`)
  .filter((s) => s.length <= 253)

/**
 * Go durations, mostly within what Istio accepts (whole milliseconds, 1ms..2562047h, in many
 * spellings), sometimes just outside it: a configuration must refuse those, or the API server
 * will.
 */
export const duration: fc.Arbitrary<string> = fc.oneof(
  // One draw in twenty is out of range (a whole configuration is then mostly still valid).
  { arbitrary: fc.constantFrom('2562048h', '99999999h', '2562047h47m16.854775807s', '0.5ms', '1.5ms', '1001us', '999999ns'), weight: 1 },
  { arbitrary: fc.constantFrom('1ms', '0.001s', '1000us', '1000000ns', '2562047h', '2562046h59m59.999s', '1h30m', '1.5h', '720h', '30s'), weight: 7 },
  { arbitrary: fc.integer({ min: 1, max: 10_000_000 }).map((ms) => `${ms}ms`), weight: 6 },
  { arbitrary: fc.tuple(fc.integer({ min: 0, max: 2_562_046 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 1, max: 59_999 }))
    .map(([h, m, ms]) => `${h}h${m}m${(ms / 1000).toFixed(3)}s`), weight: 6 },
)

const port = fc.integer({ min: 1, max: 65535 })

/** Namespaces are drawn from `namespaces` (they must exist where the objects are applied). */
export function targetArbitrary (namespaces: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    name: dnsLabel(51).filter((n) => !RESERVED_TARGET_NAMES.includes(n)),
    host: dnsName,
    port,
    plainPort: port,
    secretName: dnsName,
    secretKeys: fc.record({ cert: fc.constantFrom('cert', 'tls.crt'), key: fc.constantFrom('key', 'tls.key'), cacert: fc.constantFrom('cacert', 'ca.crt', 'ca_bundle.pem') }, { requiredKeys: [] }),
    namespaces: fc.oneof(fc.constant(['*']), fc.shuffledSubarray([...namespaces], { minLength: 1 })),
    sni: dnsName,
    subjectAltNames: fc.array(fc.oneof(dnsName, fc.constant('spiffe://bank.example/ns/x/sa/y'), fc.string({ minLength: 1, maxLength: 20 })), { maxLength: 3 }),
    maxConnectionDuration: duration,
    verifyServerName: fc.boolean(),
    origination: fc.constantFrom('sidecar', 'sidecar', 'egressGateway', 'waypoint'),
  }, { requiredKeys: ['name', 'host', 'namespaces'] })
    // Names to verify and no verification contradict each other (a configuration error).
    .map((t) => t.verifyServerName === false ? { ...t, subjectAltNames: undefined } : t)
    // At the egress gateway: the Secret keys Istio reads, and a name its Gateway can carry; at the waypoint, the same keys.
    .map((t) => t.origination === 'egressGateway' ? { ...t, name: t.name.slice(0, 43).replace(/-+$/, ''), secretKeys: undefined } : t)
    .map((t) => t.origination === 'waypoint' ? { ...t, secretKeys: undefined } : t)
    .map((t) => Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)))
}

export function configArbitrary (namespaces: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    injection: fc.constantFrom('label', 'namespace', 'cluster'),
    mountRoot: fc.constantFrom('/etc/egress-mtls', '/', '/var/run/secrets/egress/', '/a-b_c.d/e~f'),
    annotationFormat: fc.constantFrom('map', 'array'),
    routing: fc.constantFrom('targetPort', 'virtualService'),
    workloadSelector: fc.boolean(),
    meshRootNamespace: fc.constantFrom(...namespaces),
    excludeNamespaces: fc.uniqueArray(dnsLabel(), { maxLength: 2 }),
    egressGateway: fc.record({
      namespace: fc.constantFrom(...namespaces),
      selector: fc.constantFrom({ istio: 'egressgateway' }, { app: 'egress', 'topology.example.com/zone': 'a.b_c-1' }),
      port: fc.constantFrom(443, 8443, 1, 65535),
    }, { requiredKeys: ['namespace'] }),
    waypoint: fc.record({
      name: dnsLabel(),
      namespace: fc.constantFrom(...namespaces),
      create: fc.boolean(),
    }, { requiredKeys: ['namespace'] }),
    targets: fc.uniqueArray(targetArbitrary(namespaces), { minLength: 1, maxLength: 4, selector: (t) => t['name'] }),
  // The gateway's and the waypoint's namespaces are always among `namespaces` (they must exist where the objects are applied).
  }, { requiredKeys: ['targets', 'meshRootNamespace', 'egressGateway', 'waypoint'] })
}

/** A generated configuration resolved (defaults applied), or undefined where it does not validate. */
export function validConfig (raw: unknown): Config | undefined {
  const result = resolveConfig(raw)
  return result.ok ? result.value : undefined
}
