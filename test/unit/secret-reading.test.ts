// The monitor's judgement of a target's Secret (src/core/tls/secret-reading.ts) on real
// certificates: the validity it exports, the problems it names, and which Secrets it watches.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { expectedSecrets, problemsAt, readSecret, targetsOfSecret, watchScopes } from '../../src/core/tls/secret-reading.ts'
import { parseCertificate } from '../../src/core/tls/x509.ts'
import { resolvedConfig } from '../support/config.ts'
import { clientMaterial, testAuthority } from '../support/pki.ts'

const config = resolvedConfig({
  targets: [
    { name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments', 'billing'] },
    { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['billing'], secretKeys: { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' } },
    { name: 'mesh-wide', host: 'x.example.net', namespaces: ['*'] },
  ],
})
const [bank, tax] = config.targets as [typeof config.targets[0], typeof config.targets[0]]
const clientCa = await testAuthority('client CA')
const serverCa = await testAuthority('server CA', { validToDays: 100 })
const otherCa = await testAuthority('second server CA', { validToDays: 50 })
const client = await clientMaterial({ ca: clientCa, validFromDays: -2, validToDays: 30 })
const seconds = (pem: string): { notBefore: number, notAfter: number } => {
  const c = parseCertificate(pem)
  return { notBefore: c.validFromDate.getTime() / 1000, notAfter: c.validToDate.getTime() / 1000 }
}
const data = (over: Record<string, string> = {}): Record<string, string> => ({ cert: client.cert, key: client.key, cacert: `${serverCa.cert}\n${otherCa.cert}\n`, ...over })

test('a good Secret: the client certificate\'s validity, the earliest CA expiry, no problem', () => {
  const reading = readSecret(bank, data())
  assert.deepEqual(reading, { ...seconds(client.cert), caNotAfter: seconds(otherCa.cert).notAfter, problems: [] })
  assert.deepEqual(problemsAt(reading, new Date()), [])
})

test('the Secret\'s keys are the target\'s secretKeys', () => {
  assert.deepEqual(readSecret(tax, data()).problems, ['unreadable'])
  assert.deepEqual(readSecret(tax, { 'tls.crt': client.cert, 'tls.key': client.key, 'ca.crt': serverCa.cert }).problems, [])
})

test('problems: missing, unreadable, key_mismatch', async () => {
  assert.deepEqual(readSecret(bank, undefined), { problems: ['missing'] })
  for (const [what, over] of [['no key', { key: '' }], ['a key that is no PEM', { key: 'nope' }], ['no cacert', { cacert: ' ' }], ['a cert that is no PEM', { cert: 'garbage' }]] as const) {
    assert.deepEqual(readSecret(bank, data(over)).problems, ['unreadable'], what)
  }
  const { cert: _cert, ...withoutCert } = data()
  assert.deepEqual(readSecret(bank, withoutCert).problems, ['unreadable'])
  const other = await clientMaterial({ ca: clientCa })
  const mismatch = readSecret(bank, data({ key: other.key }))
  assert.deepEqual(mismatch.problems, ['key_mismatch'])
  assert.equal(mismatch.notAfter, seconds(client.cert).notAfter, 'the validity is still exported')
})

test('expired and not_yet_valid follow the clock, not the Secret', async () => {
  const reading = readSecret(bank, data())
  const { notBefore, notAfter } = seconds(client.cert)
  assert.deepEqual(problemsAt(reading, new Date(notAfter * 1000 - 1)), [])
  assert.deepEqual(problemsAt(reading, new Date(notAfter * 1000)), ['expired'])
  assert.deepEqual(problemsAt(reading, new Date(notBefore * 1000 - 1)), ['not_yet_valid'])
  const expired = await clientMaterial({ ca: clientCa, validFromDays: -10, validToDays: -1 })
  assert.deepEqual(problemsAt(readSecret(bank, data({ cert: expired.cert, key: expired.key })), new Date()), ['expired'])
  const early = await clientMaterial({ ca: clientCa, validFromDays: 1, validToDays: 10 })
  assert.deepEqual(problemsAt(readSecret(bank, data({ cert: early.cert, key: early.key })), new Date()), ['not_yet_valid'])
  const other = await clientMaterial({ ca: clientCa, validFromDays: -10, validToDays: -1 })
  assert.deepEqual(problemsAt(readSecret(bank, data({ cert: expired.cert, key: other.key })), new Date()), ['key_mismatch', 'expired'])
})

test('no key material in a reading', () => {
  const text = JSON.stringify(readSecret(bank, data()))
  assert.doesNotMatch(text, /BEGIN|PRIVATE/)
})

test('watches: one per namespace and Secret name; one across namespaces for a mesh-wide target', () => {
  assert.deepEqual(watchScopes(config), [
    { secretName: 'mesh-wide-mtls' },
    { namespace: 'payments', secretName: 'bank-api-mtls' },
    { namespace: 'billing', secretName: 'bank-api-mtls' },
    { namespace: 'billing', secretName: 'tax-gw-mtls' },
  ])
  const shared = resolvedConfig({
    targets: [
      { name: 'a', host: 'a.example.com', namespaces: ['x'], secretName: 'shared' },
      { name: 'b', host: 'b.example.com', namespaces: ['*'], secretName: 'shared' },
      { name: 'c', host: 'c.example.com', namespaces: ['x'], secretName: 'shared' },
    ],
  })
  assert.deepEqual(watchScopes(shared), [{ secretName: 'shared' }], 'the watch across namespaces covers the namespaced ones')
  assert.deepEqual(targetsOfSecret(shared, 'x', 'shared').map((t) => t.name), ['a', 'b', 'c'])
  assert.deepEqual(targetsOfSecret(shared, 'y', 'shared').map((t) => t.name), ['b'])
  assert.deepEqual(targetsOfSecret(config, 'payments', 'tax-gw-mtls'), [], 'a Secret of that name where the target is not available')
})

test('expected Secrets: each namespace a target lists; none for a mesh-wide target', () => {
  assert.deepEqual(expectedSecrets(config).map(({ namespace, target }) => `${namespace}/${target.name}`), ['payments/bank-api', 'billing/bank-api', 'billing/tax-gw'])
})

test('an egressGateway target: its Secret is watched and expected in the gateway\'s namespace only, whatever its namespaces', () => {
  const gateway = resolvedConfig({
    egressGateway: { namespace: 'egress' },
    targets: [
      { name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments', 'billing'], origination: 'egressGateway' },
      { name: 'everywhere', host: 'all.example.com', namespaces: ['*'], origination: 'egressGateway' },
      { name: 'tax-gw', host: 'tax.example.com', namespaces: ['billing'] },
    ],
  })
  assert.deepEqual(watchScopes(gateway), [
    { namespace: 'egress', secretName: 'bank-api-mtls' },
    { namespace: 'egress', secretName: 'everywhere-mtls' },
    { namespace: 'billing', secretName: 'tax-gw-mtls' },
  ])
  assert.deepEqual(expectedSecrets(gateway).map(({ namespace, target }) => `${namespace}/${target.name}`), ['egress/bank-api', 'egress/everywhere', 'billing/tax-gw'])
  assert.deepEqual(targetsOfSecret(gateway, 'egress', 'bank-api-mtls').map((t) => t.name), ['bank-api'])
  assert.deepEqual(targetsOfSecret(gateway, 'payments', 'bank-api-mtls'), [], 'a copy in an application namespace is not the gateway\'s')
})
