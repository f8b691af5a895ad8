import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { targetsForNamespace } from '../../src/core/config/config.ts'
import { parseConfig, resolveConfig } from '../../src/core/config/parse.ts'
import { ConfigError } from '../../src/errors.ts'
import { parsedConfig } from '../support/config.ts'

const issuesOf = (text: string): string[] => {
  try {
    parsedConfig(text, 'c.yaml')
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err))
    assert.equal(err.exitCode, 2)
    return err.issues.map((i) => `${i.line ?? '?'} ${i.path}: ${i.message}`)
  }
  assert.fail('expected a ConfigError')
}

test('core says what is wrong as a Result, every issue at once; the shell makes it the ConfigError', () => {
  const result = parseConfig('targets:\n  - { name: a, host: 10.0.0.1 }\n')
  assert.deepEqual(result.ok ? [] : result.error, [
    { path: 'targets[0].namespaces', message: 'is required', line: 2 },
    { path: 'targets[0].host', message: 'must be a DNS name, not an IP address', line: 2 },
  ])
  assert.deepEqual(resolveConfig([]), { ok: false, error: [{ path: '', message: 'must be a mapping of configuration fields' }] })
  assert.equal(parseConfig('targets: []\n').ok, true)
})

test('defaults fill every field but name, host and namespaces', () => {
  const c = parsedConfig('targets:\n  - { name: bank-api, host: api.bank.example.com, namespaces: [payments] }\n')
  assert.deepEqual(c, {
    injection: 'label',
    mountRoot: '/etc/egress-mtls',
    annotationFormat: 'map',
    routing: 'targetPort',
    workloadSelector: true,
    meshRootNamespace: 'istio-system',
    excludeNamespaces: [],
    egressGateway: { namespace: 'istio-system', selector: { istio: 'egressgateway' }, service: 'istio-egressgateway.istio-system.svc.cluster.local', port: 443 },
    waypoint: { name: 'waypoint', namespace: 'istio-egress', create: false },
    tlsStats: false,
    targets: [{
      name: 'bank-api',
      host: 'api.bank.example.com',
      port: 443,
      plainPort: 80,
      secretName: 'bank-api-mtls',
      secretKeys: { cert: 'cert', key: 'key', cacert: 'cacert' },
      namespaces: ['payments'],
      sni: 'api.bank.example.com',
      subjectAltNames: [],
      verifyServerName: true,
      origination: 'sidecar',
      maxConnectionDuration: '1h',
    }],
  })
  assert.ok(Object.isFrozen(c.targets[0]))
})

test('an empty file, or one that is null, is an error; `targets: []` injects nothing on purpose', () => {
  for (const text of ['', '\n', '# only a comment\n', 'null\n', '~\n', '---\n']) {
    assert.deepEqual(issuesOf(text), ['? : is empty: a configuration needs at least `targets` (write `targets: []` to inject nothing on purpose)'], JSON.stringify(text))
  }
  assert.deepEqual(parsedConfig('targets: []\n').targets, [])
})

test('partial secretKeys keep the other defaults; mountRoot loses a trailing slash', () => {
  const c = parsedConfig('mountRoot: /certs/\ntargets:\n  - { name: a, host: a.example.com, namespaces: [x], secretKeys: { cert: tls.crt } }\n')
  assert.equal(c.mountRoot, '/certs')
  assert.deepEqual(c.targets[0]?.secretKeys, { cert: 'tls.crt', key: 'key', cacert: 'cacert' })
})

test('errors name the file, the line and the field', () => {
  const text = [
    'injection: labels', //                    1
    'targets:', //                             2
    '  - name: bank-api', //                   3
    '    host: api.bank.example.com', //       4
    '    namespaces: [payments]', //           5
    '  - name: tax', //                        6
    '    host: "*.tax.example.com"', //        7
    '    hots: x', //                          8
    '    port: 70000', //                      9
    '    namespaces: [Payments]', //           10
  ].join('\n')
  assert.deepEqual(issuesOf(text).sort(), [
    '1 injection: must be one of "label", "namespace", "cluster"',
    '10 targets[1].namespaces[0]: must be "*" or a namespace name (DNS-1123 label)',
    '7 targets[1].host: must be a lowercase DNS name without wildcard (e.g. api.bank.example.com)',
    '8 targets[1].hots: unknown field (did you mean "host"?)',
    '9 targets[1].port: must be <= 65535',
  ])
})

test('schema errors and the rules across fields are reported in one pass, in line order', () => {
  const text = [
    'injection: labels', //                                             1
    'targets:', //                                                      2
    '  - { name: a, host: a.example.com, namespaces: [x] }', //         3
    '  - { name: a, host: b.example.com, namespaces: [x], port: x }', // 4
  ].join('\n')
  assert.deepEqual(issuesOf(text), [
    '1 injection: must be one of "label", "namespace", "cluster"',
    '4 targets[1].port: must be integer',
    '4 targets[1].name: duplicates targets[0].name "a"',
  ])
})

test('unknown fields suggest the field meant, when one is close', () => {
  const text = [
    'tragets:', //                                                          1
    '  - name: a', //                                                       2
    'routing: targetPort', //                                               3
    'workloadselector: true', //                                            4
    'completelyDifferent: 1', //                                            5
  ].join('\n')
  assert.deepEqual(issuesOf(text), [
    '1 tragets: unknown field (did you mean "targets"?)',
    '4 workloadselector: unknown field (did you mean "workloadSelector"?)',
    '5 completelyDifferent: unknown field',
  ])
  assert.deepEqual(issuesOf('targets: [{ name: a, host: a.io, namespaces: [x], secretname: s }]'), [
    '1 targets[0].secretname: unknown field (did you mean "secretName"?)',
  ])
})

test('a missing required field points at its target', () => {
  assert.deepEqual(issuesOf('targets:\n  - name: a\n    namespaces: [x]\n'), ['2 targets[0].host: is required'])
})

test('rules across fields: duplicates, reserved names, port clash, "*" alone, IP hosts', () => {
  const text = `targets:
  - { name: a, host: a.example.com, namespaces: [x] }
  - { name: a, host: a.example.com, namespaces: ["*", y], port: 80 }
  - { name: inject, host: 10.0.0.1, namespaces: [x], secretKeys: { cert: k, key: k } }
`
  assert.deepEqual(issuesOf(text), [
    '3 targets[1].name: duplicates targets[0].name "a"',
    '3 targets[1].namespaces: shares host "a.example.com" with targets[0] (a), but this target is mesh-wide (["*"]): its DestinationRule, ' +
      'without a workload selector, applies to every sidecar and would overlap the other\'s; give each mesh-wide target a host of its own',
    '3 targets[1].plainPort: must differ from port (80)',
    '3 targets[1].namespaces: "*" (the whole mesh) must stand alone',
    '4 targets[2].name: "inject" is reserved (egress-mtls.io/inject is a name egress-mtls uses itself)',
    '4 targets[2].host: must be a DNS name, not an IP address',
    '4 targets[2].secretKeys: cert, key and cacert must be three different keys',
  ])
})

test('targets may share a host: each its own certificate, for its own workloads (docs/design.md "Istio resources": targets sharing a host)', async (t) => {
  await t.test('namespaced targets with workloadSelector share a host, wherever their namespaces meet', () => {
    const c = parsedConfig(`targets:
  - { name: merchant-a, host: api.bank.example.com, namespaces: [payments] }
  - { name: merchant-b, host: api.bank.example.com, namespaces: [payments, billing], secretName: b, sni: b.bank.example.com }
  - { name: merchant-c, host: api.bank.example.com, namespaces: [shop], port: 443, plainPort: 80 }
`)
    assert.deepEqual(c.targets.map((x) => [x.name, x.host]), [['merchant-a', 'api.bank.example.com'], ['merchant-b', 'api.bank.example.com'], ['merchant-c', 'api.bank.example.com']])
  })

  await t.test('not with workloadSelector: false (two DestinationRules would apply to every workload)', () => {
    assert.deepEqual(issuesOf('workloadSelector: false\ntargets:\n  - { name: a, host: h.example.com, namespaces: [x] }\n  - { name: b, host: h.example.com, namespaces: [y] }\n'), [
      '4 targets[1].host: duplicates targets[0] (a).host "h.example.com": targets may share a host only with workloadSelector: true (each DestinationRule then selects its own workloads)',
    ])
  })

  await t.test('not with a mesh-wide target, whichever comes first', () => {
    const meshWide = (first: string, which: string): string =>
      `shares host "h.example.com" with ${first}, but ${which} mesh-wide (["*"]): its DestinationRule, without a workload selector, ` +
      'applies to every sidecar and would overlap the other\'s; give each mesh-wide target a host of its own'
    assert.deepEqual(issuesOf('targets:\n  - { name: a, host: h.example.com, namespaces: [x] }\n  - name: b\n    host: h.example.com\n    namespaces: ["*"]\n'), [
      `5 targets[1].namespaces: ${meshWide('targets[0] (a)', 'this target is')}`,
    ])
    assert.deepEqual(issuesOf('targets:\n  - { name: a, host: h.example.com, namespaces: ["*"] }\n  - { name: b, host: h.example.com, namespaces: [x] }\n'), [
      `3 targets[1].host: ${meshWide('targets[0] (a)', 'targets[0] (a) is')}`,
    ])
  })

  await t.test('not at the egress gateway (one certificate per host there), whichever comes first', () => {
    const gateway = (which: string): string =>
      `shares host "h.example.com" with targets[0] (a), but ${which} has origination: egressGateway: at the shared egress gateway every call to a host ` +
      'leaves through one proxy, with one client certificate; give it a host of its own, or use origination: sidecar for both'
    assert.deepEqual(issuesOf('targets:\n  - { name: a, host: h.example.com, namespaces: [x] }\n  - { name: b, host: h.example.com, namespaces: [y], origination: egressGateway }\n'), [
      `3 targets[1].origination: ${gateway('this target')}`,
    ])
    assert.deepEqual(issuesOf('targets:\n  - { name: a, host: h.example.com, namespaces: [x], origination: egressGateway }\n  - { name: b, host: h.example.com, namespaces: [y], origination: egressGateway }\n'), [
      `3 targets[1].origination: ${gateway('this target')}`,
    ])
    assert.deepEqual(issuesOf('targets:\n  - { name: a, host: h.example.com, namespaces: [x], origination: egressGateway }\n  - { name: b, host: h.example.com, namespaces: [y] }\n'), [
      `3 targets[1].host: ${gateway('targets[0] (a)')}`,
    ])
  })

  await t.test('targets of one host agree on what their ServiceEntry carries: each disagreement names both, at its line', () => {
    const text = [
      'targets:', //                                                            1
      '  - { name: a, host: h.example.com, namespaces: [x], port: 8443 }', //  2
      '  - name: b', //                                                         3
      '    host: h.example.com', //                                             4
      '    namespaces: [y]', //                                                 5
      '    plainPort: 8080', //                                                 6
      '  - { name: c, host: h.example.com, namespaces: [x], port: 8443 }', //  7
    ].join('\n')
    assert.deepEqual(issuesOf(text), [
      '3 targets[1].port: is 443 but targets[0] (a), of the same host "h.example.com", has 8443: targets of one host share its ServiceEntry and must agree on port and plainPort',
      '6 targets[1].plainPort: is 8080 but targets[0] (a), of the same host "h.example.com", has 80: targets of one host share its ServiceEntry and must agree on port and plainPort',
    ])
  })

  await t.test('a shared host is at most 241 characters: its ServiceEntry is named egress-mtls.<host>', () => {
    const label = 'a'.repeat(63)
    const long = [label, label, label, 'b'.repeat(50)].join('.') // 242 characters
    assert.equal(long.length, 242)
    assert.deepEqual(issuesOf(`targets:\n  - { name: a, host: ${long}, namespaces: [x] }\n  - { name: b, host: ${long}, namespaces: [x] }\n`), [
      '3 targets[1].host: is shared with targets[0] (a) and longer than 241 characters: the shared ServiceEntry\'s name egress-mtls.<host> would exceed 253',
    ])
    const fits = long.slice(1)
    assert.equal(parsedConfig(`targets:\n  - { name: a, host: ${fits}, namespaces: [x] }\n  - { name: b, host: ${fits}, namespaces: [x] }\n`).targets.length, 2)
  })
})

test('verifyServerName: a boolean, and false cannot come with subjectAltNames', () => {
  assert.equal(parsedConfig('targets:\n  - { name: a, host: a.example.com, namespaces: [x], verifyServerName: false }\n').targets[0]?.verifyServerName, false)
  assert.deepEqual(issuesOf('targets:\n  - { name: a, host: a.example.com, namespaces: [x], verifyServerName: "no" }\n'), ['2 targets[0].verifyServerName: must be boolean'])
  assert.deepEqual(issuesOf('targets:\n  - name: a\n    host: a.example.com\n    namespaces: [x]\n    subjectAltNames: [a.example.com]\n    verifyServerName: false\n'), [
    '6 targets[0].verifyServerName: false contradicts subjectAltNames (names to verify); remove one of them',
  ])
})

test('target names are limited to 51 characters so resource names fit in 63', () => {
  const ok = 'a'.repeat(51)
  assert.equal(parsedConfig(`targets: [{ name: ${ok}, host: h.example.com, namespaces: [x] }]`).targets[0]?.name, ok)
  assert.deepEqual(issuesOf(`targets: [{ name: ${ok}b, host: h.example.com, namespaces: [x] }]`), [
    '1 targets[0].name: must NOT have more than 51 characters',
  ])
})

test('YAML syntax errors and non-mappings are configuration errors with a line', () => {
  assert.match(issuesOf('targets: [\n  - a\n')[0] ?? '', /^\d+ : /)
  assert.deepEqual(issuesOf('- a\n- b\n'), ['1 : must be a mapping of configuration fields'])
  assert.match(issuesOf('a: 1\na: 2\n')[0] ?? '', /^2 : Map keys must be unique/)
})

test('maxConnectionDuration takes Go-style durations only', () => {
  assert.equal(parsedConfig('targets: [{ name: a, host: a.io, namespaces: [x], maxConnectionDuration: 1h30m }]').targets[0]?.maxConnectionDuration, '1h30m')
  assert.deepEqual(issuesOf('targets: [{ name: a, host: a.io, namespaces: [x], maxConnectionDuration: 1 hour }]'), [
    '1 targets[0].maxConnectionDuration: must be a duration such as 1h, 30m or 1h30m, or off',
  ])
  assert.equal(parsedConfig('targets: [{ name: a, host: a.io, namespaces: [x], maxConnectionDuration: 1ms }]').targets[0]?.maxConnectionDuration, '1ms')
  for (const off of ['0', 'off', '"0"', '\'off\'']) {
    const target = parsedConfig(`targets: [{ name: a, host: a.io, namespaces: [x], maxConnectionDuration: ${off} }]`).targets[0]
    assert.ok(target !== undefined && !('maxConnectionDuration' in target), `${off} turns the bound off`)
  }
  assert.equal(parsedConfig('targets: [{ name: a, host: a.io, namespaces: [x] }]').targets[0]?.maxConnectionDuration, '1h', 'one hour by default')
  for (const short of ['0s', '999us', '0.5ms', '999999ns']) {
    assert.deepEqual(issuesOf(`targets: [{ name: a, host: a.io, namespaces: [x], maxConnectionDuration: ${short} }]`), [
      '1 targets[0].maxConnectionDuration: must be at least 1ms (Istio rejects shorter durations)',
    ])
  }
})

test('maxConnectionDuration: what kube-apiserver (CEL, Go) and istiod accept, and nothing else', () => {
  const duration = (d: string): string => `targets: [{ name: a, host: a.io, namespaces: [x], maxConnectionDuration: ${d} }]`
  for (const ok of ['2562047h', '2562046h59m59.999s', '1.5s', '0.001s', '1000000us', '720h']) {
    assert.equal(parsedConfig(duration(ok)).targets[0]?.maxConnectionDuration, ok)
  }
  const tooLong = '1 targets[0].maxConnectionDuration: must be at most 2562047h (the largest duration Go, hence Kubernetes and Istio, can hold)'
  for (const long of ['2562048h', '2562047h1ms', '9223372036854775807ns', '99999999999999999999h', '2562047h47m16.854775808s']) {
    assert.deepEqual(issuesOf(duration(long)), [tooLong], long)
  }
  for (const fine of ['1.5ms', '1001us', '1000001ns']) {
    assert.deepEqual(issuesOf(duration(fine)), [
      '1 targets[0].maxConnectionDuration: must be a whole number of milliseconds (Istio supports durations to ms precision only)',
    ], fine)
  }
})

test('hostile files are refused quickly with one line each, before the parser spends memory', () => {
  const cases: [string, string, RegExp][] = [
    ['alias bomb', `a: &a [x, x, x, x, x, x, x, x, x]\n${['b', 'c', 'd', 'e', 'f', 'g', 'h'].map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefgh'[i] ?? ''}`).join(', ')}]`).join('\n')}\n`, /^\? : cannot be read: Excessive alias count/],
    ['20,000-deep flow nesting', `${'['.repeat(20_000)}${']'.repeat(20_000)}`, /^1 : nests deeper than 32 levels$/],
    ['20,000-deep block nesting', Array.from({ length: 20_000 }, () => '- ').join(''), /^1 : nests deeper than 32 levels$/],
    ['a NUL byte on line 3', 'targets:\n  - name: a\n  \0\n', /^3 : contains the control character U\+0000: not a YAML or JSON text$/],
    ['20 MB of NULs', '\0'.repeat(20 * 1024 * 1024), /^\? : is 20971520 bytes; a configuration is at most 1048576 bytes/],
    ['1 MiB + 1 of spaces', ' '.repeat(1024 * 1024 + 1), /^\? : is 1048577 bytes/],
  ]
  for (const [name, text, expected] of cases) {
    const issues = issuesOf(text)
    assert.equal(issues.length, 1, name)
    assert.match(issues[0] ?? '', expected, name)
  }
})

test('targetsForNamespace: listed namespaces and the whole mesh, in configuration order', () => {
  const c = parsedConfig(`targets:
  - { name: a, host: a.io, namespaces: [x, y] }
  - { name: b, host: b.io, namespaces: ["*"] }
  - { name: c, host: c.io, namespaces: [y] }
`)
  assert.deepEqual(targetsForNamespace(c, 'x').map((t) => t.name), ['a', 'b'])
  assert.deepEqual(targetsForNamespace(c, 'y').map((t) => t.name), ['a', 'b', 'c'])
  assert.deepEqual(targetsForNamespace(c, 'z').map((t) => t.name), ['b'])
})

test('the example configuration in the repository is valid', () => {
  const path = new URL('../../examples/config.yaml', import.meta.url)
  const c = parsedConfig(readFileSync(path, 'utf8'), 'examples/config.yaml')
  assert.deepEqual(c.targets.map((t) => t.name), ['bank-api', 'tax-gw'])
})

test('egressGateway: Istio\'s gateway chart by default; the Service follows the namespace', () => {
  const c = parsedConfig('egressGateway: { namespace: istio-egress }\ntargets:\n  - { name: a, host: a.example.com, namespaces: [x], origination: egressGateway }\n')
  assert.deepEqual(c.egressGateway, { namespace: 'istio-egress', selector: { istio: 'egressgateway' }, service: 'istio-egressgateway.istio-egress.svc.cluster.local', port: 443 })
  assert.equal(c.targets[0]?.origination, 'egressGateway')
  const custom = parsedConfig('egressGateway: { namespace: gw, selector: { app.example.com/role: egress }, service: egress.gw.svc.corp.local, port: 8443 }\ntargets: []\n')
  assert.deepEqual(custom.egressGateway, { namespace: 'gw', selector: { 'app.example.com/role': 'egress' }, service: 'egress.gw.svc.corp.local', port: 8443 })
})

test('egressGateway: a missing, malformed or contradictory field is named with its line', () => {
  const text = [
    'egressGateway:', //                                    1
    '  namespace: istio-egress', //                         2
    '  selector: {}', //                                    3
    '  service: istio-egressgateway.istio-system.svc.cluster.local', // 4
    '  port: 0', //                                         5
    '  prot: x', //                                         6
    'targets:', //                                          7
    '  - name: a', //                                       8
    '    host: a.example.com', //                           9
    '    namespaces: [x]', //                               10
    '    origination: gateway', //                          11
  ].join('\n')
  assert.deepEqual(issuesOf(text), [
    '3 egressGateway.selector: must not be empty',
    '4 egressGateway.service: is in namespace istio-system, which contradicts egressGateway.namespace (istio-egress): the Secret, Gateway and policies go in the gateway\'s namespace',
    '5 egressGateway.port: must be >= 1',
    '6 egressGateway.prot: unknown field (did you mean "port"?)',
    '11 targets[0].origination: must be one of "sidecar", "egressGateway", "waypoint"',
  ])
  assert.deepEqual(issuesOf('egressGateway: { service: istio-egressgateway }\ntargets: []\n'), [
    '1 egressGateway.service: must be the gateway Service\'s full name, <name>.<namespace>.svc.<cluster domain> (e.g. istio-egressgateway.istio-system.svc.cluster.local)',
  ])
  assert.deepEqual(issuesOf('egressGateway:\n  selector: { "bad key": x, ok: "not ok!" }\ntargets: []\n'), [
    '2 egressGateway.selector.bad key: the key must be a label key (an optional DNS prefix and "/", then letters, digits, "-", "_" and ".")',
    '2 egressGateway.selector.ok: must be a label value (letters, digits, "-", "_" and ".", starting and ending with a letter or digit)',
  ])
})

test('origination egressGateway: the Secret keys Istio\'s gateway reads, and a name its Gateway can carry', () => {
  const target = (extra: string): string => `targets:\n  - { name: a, host: a.example.com, namespaces: [x], origination: egressGateway${extra} }\n`
  assert.deepEqual(parsedConfig(target(', secretKeys: { cert: tls.crt, key: tls.key, cacert: ca.crt }')).targets[0]?.secretKeys, { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' })
  assert.deepEqual(issuesOf(target(', secretKeys: { cert: tls.crt }')), [
    '2 targets[0].secretKeys: must be {cert: cert, key: key, cacert: cacert} or {cert: tls.crt, key: tls.key, cacert: ca.crt} with origination egressGateway: the keys Istio\'s gateway reads from credentialName',
  ])
  // sidecar mode reads any keys (they become files)
  assert.equal(parsedConfig(target(', secretKeys: { cert: tls.crt }').replace('egressGateway', 'sidecar')).targets[0]?.origination, 'sidecar')
  const long = 'n'.repeat(44)
  assert.deepEqual(issuesOf(`targets:\n  - { name: ${long}, host: a.example.com, namespaces: [x], origination: egressGateway }\n`), [
    '2 targets[0].name: must be at most 43 characters with origination egressGateway (its Istio Gateway egress-mtls-<name>-gateway is a DNS label: 63 characters at most)',
  ])
  assert.equal(parsedConfig(`targets:\n  - { name: ${'n'.repeat(43)}, host: a.example.com, namespaces: [x], origination: egressGateway }\n`).targets.length, 1)
  assert.equal(parsedConfig(`targets:\n  - { name: ${long}, host: a.example.com, namespaces: [x] }\n`).targets.length, 1)
})
