// The checks of a target's client material (doctor's Secret checks, probe's material), on
// real certificates (selfsigned: EC P-256, SHA-256): the chain the sidecar sends, its key,
// and cacert, the CAs that verify the external SERVER (unrelated to the client's issuer).
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { exitCode, type Finding, formatFinding } from '../../src/core/base/findings.ts'
import { checkMaterial, checkSecret } from '../../src/core/tls/client-material.ts'
import { resolvedConfig } from '../support/config.ts'
import { type ClientMaterial, clientMaterial, testAuthority } from '../support/pki.ts'

const DAY_MS = 24 * 60 * 60 * 1000
const config = resolvedConfig({
  targets: [{ name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['billing'], secretKeys: { cert: 'tls.crt', key: 'tls.key', cacert: 'ca.crt' } }],
})
const target = config.targets[0]!
const lines = (findings: readonly Finding[]): string[] => findings.map(formatFinding)
const levels = (findings: readonly Finding[]): string[] => findings.map((f) => f.level)
const AT = 'Secret billing/tax-gw-mtls (target tax-gw)'
/** PEM certificates one after the other, each on its own lines (selfsigned's end without a newline). */
const pem = (...certs: string[]): string => certs.join('\n') + '\n'

// The client certificate comes from the external system's client CA; the server's
// certificate from another CA, the one in ca.crt.
const clientCa = await testAuthority('bank client CA')
const serverCa = await testAuthority('bank server CA')
const client = await clientMaterial({ ca: clientCa })
const data = (m: Pick<ClientMaterial, 'cert' | 'key'>, cacert = serverCa.cert): Record<string, string> => ({ 'tls.crt': m.cert, 'tls.key': m.key, 'ca.crt': cacert })
const check = (d: Record<string, string>, now = new Date()): Finding[] => checkSecret(target, 'billing', d, now)

test('a client certificate from another CA than ca.crt: every check ok (old doctor failed it: "not signed by the CA in ca.crt")', () => {
  const findings = check(data(client))
  assert.deepEqual(lines(findings).map((l) => l.replace(/\d+ days \(\d{4}-\d\d-\d\d\)/, 'N days (DATE)').replace(/until \d{4}-\d\d-\d\d \(\d+ days\)/, 'until DATE (N days)')), [
    `ok ${AT}: keys tls.crt, tls.key, ca.crt present`,
    `ok ${AT}: tls.key matches the certificate`,
    `ok ${AT}: the client certificate expires in N days (DATE)`,
    `ok ${AT}: tls.crt sends the client certificate alone; the server must trust its issuer 'CN=bank client CA', or tls.crt must hold the intermediates after it`,
    `ok ${AT}: ca.crt holds 1 CA certificate to verify the server: 'CN=bank server CA' until DATE (N days)`,
  ])
  assert.equal(exitCode(findings), 0)
  assert.match(lines(findings)[2]!, /expires in 36[45] days/)
  assert.match(lines(findings)[4]!, /\(36(49|50) days\)$/)
})

test('no Secret, missing or empty keys: fail naming them', () => {
  assert.deepEqual(lines(checkSecret(target, 'billing', undefined, new Date())), [`fail ${AT}: not found; create it with keys tls.crt, tls.key, ca.crt`])
  assert.deepEqual(lines(check({ 'tls.crt': client.cert, 'tls.key': ' \n', cert: client.cert })), [`fail ${AT}: missing or empty keys tls.key, ca.crt`])
})

test('a key of another certificate: fail "does not match"', async () => {
  const other = await clientMaterial({ ca: clientCa })
  const findings = check(data({ cert: client.cert, key: other.key }))
  assert.deepEqual(levels(findings), ['ok', 'fail', 'ok', 'ok', 'ok'])
  assert.equal(lines(findings)[1], `fail ${AT}: tls.key does not match the certificate in tls.crt`)
})

test('the chain sent: intermediates after the client certificate, each signing the one before', async () => {
  const root = await testAuthority('client root')
  const intermediate = await testAuthority('client intermediate', { parent: root })
  const leaf = await clientMaterial({ ca: intermediate })
  const message = (cert: string): string => lines(check(data({ cert, key: leaf.key })))[3]!

  assert.equal(message(pem(leaf.cert, intermediate.cert)), `ok ${AT}: tls.crt sends the client certificate and 1 intermediate; the server must trust their issuer 'CN=client root'`)
  assert.equal(message(pem(leaf.cert, intermediate.cert, root.cert)), `ok ${AT}: tls.crt sends the client certificate and 1 intermediate up to the root 'CN=client root'`)
  assert.equal(message(leaf.cert), `ok ${AT}: tls.crt sends the client certificate alone; the server must trust its issuer 'CN=client intermediate', or tls.crt must hold the intermediates after it`)

  const gap = check(data({ cert: pem(leaf.cert, root.cert), key: leaf.key }))
  assert.deepEqual(levels(gap), ['ok', 'ok', 'ok', 'fail', 'ok'])
  assert.equal(lines(gap)[3], `fail ${AT}: tls.crt: certificate 2 'CN=client root' did not sign certificate 1 'CN=egress-mtls test client' (issuer 'CN=client intermediate'); put the client certificate first, then each issuer in turn, with none missing`)
  // A client certificate that is not first: the key does not match it either.
  const reversed = check(data({ cert: pem(intermediate.cert, leaf.cert), key: leaf.key }))
  assert.ok(reversed.some((f) => f.level === 'fail' && f.message.includes('does not match')), lines(reversed).join('\n'))
  assert.ok(reversed.some((f) => f.level === 'fail' && f.message.includes('did not sign certificate 1')), lines(reversed).join('\n'))

  const client2 = await clientMaterial({ ca: clientCa })
  const notCa = check(data({ cert: pem(leaf.cert, client2.cert), key: leaf.key }))
  assert.ok(notCa.some((f) => f.level === 'fail' && f.message.startsWith('tls.crt: certificate 2')), lines(notCa).join('\n'))

  const old = await testAuthority('old intermediate', { parent: root, validFromDays: -400, validToDays: -1 })
  const throughOld = await clientMaterial({ ca: old, validFromDays: -10, validToDays: 100 })
  const expired = check(data({ cert: pem(throughOld.cert, old.cert), key: throughOld.key }))
  assert.ok(lines(expired).some((l) => /^fail .*: tls\.crt: the intermediate 'CN=old intermediate' is not valid now/.test(l)), lines(expired).join('\n'))
})

test('expiry of the client certificate: fail when expired or not yet valid, warn under 30 days', async () => {
  const soon = await clientMaterial({ ca: clientCa, validToDays: 10 })
  const warned = check(data(soon))
  assert.equal(warned[2]?.level, 'warn')
  assert.match(warned[2].message, /^the client certificate expires in (9|10) days/)
  assert.equal(exitCode(warned), 0)

  const later = check(data(client), new Date(Date.now() + 400 * DAY_MS))
  assert.equal(formatFinding(later[2]!).replace(/\d{4}-\d\d-\d\d/, 'DATE'), `fail ${AT}: the client certificate expired on DATE`)

  const expired = await clientMaterial({ ca: clientCa, validFromDays: -30, validToDays: -2 })
  assert.match(lines(check(data(expired)))[2]!, /^fail .*: the client certificate expired on/)

  const before = check(data(client), new Date(Date.now() - 2 * DAY_MS))
  assert.match(lines(before)[2]!, /^fail .*: the client certificate is not valid before \d{4}-\d\d-\d\d$/)
})

test('extended key usage: serverAuth only fails; no extension at all is fine', async () => {
  const server = await clientMaterial({ ca: clientCa, extKeyUsage: 'serverAuth' })
  const findings = check(data(server))
  assert.deepEqual(lines(findings).filter((l) => l.startsWith('fail ')), [
    `fail ${AT}: the client certificate's extended key usage (serverAuth) lacks clientAuth: servers that check it (OpenSSL, Go, Java) refuse the certificate`,
  ])
  const none = await clientMaterial({ ca: clientCa, extKeyUsage: 'none' })
  assert.deepEqual(levels(check(data(none))), ['ok', 'ok', 'ok', 'ok', 'ok'])
})

test('ca.crt: CA certificates, each valid now; a certificate that is not a CA fails', async () => {
  // The server's own (CA-signed) certificate in ca.crt by mistake.
  const serverLeaf = await clientMaterial({ ca: serverCa, extKeyUsage: 'serverAuth', commonName: 'api.tax.example.org' })
  const leafOnly = check(data(client, serverLeaf.cert))
  assert.deepEqual(lines(leafOnly).filter((l) => l.startsWith('fail ')), [
    `fail ${AT}: ca.crt: 'CN=api.tax.example.org' is not a CA certificate (no basicConstraints CA:TRUE); ca.crt holds the CAs that issued the external server's certificate`,
    `fail ${AT}: ca.crt holds no CA certificate valid now: the sidecar cannot verify the server`,
  ])

  const expiredCa = await testAuthority('retired server CA', { validFromDays: -800, validToDays: -3 })
  const alone = check(data(client, expiredCa.cert))
  assert.deepEqual(lines(alone).filter((l) => l.startsWith('fail ')).map((l) => l.replace(/\d{4}-\d\d-\d\d/, 'DATE')), [
    `fail ${AT}: ca.crt: the CA 'CN=retired server CA' expired on DATE`,
    `fail ${AT}: ca.crt holds no CA certificate valid now: the sidecar cannot verify the server`,
  ])
  // Beside a valid CA, an expired one only warns.
  const beside = check(data(client, pem(expiredCa.cert, serverCa.cert)))
  assert.deepEqual(levels(beside), ['ok', 'ok', 'ok', 'ok', 'warn', 'ok'])
  assert.match(lines(beside)[5]!, /ca\.crt holds 1 CA certificate to verify the server: 'CN=bank server CA'/)

  const soon = await testAuthority('short-lived server CA', { validToDays: 12 })
  const warned = check(data(client, soon.cert))
  assert.match(lines(warned)[4]!, /^warn .*: ca\.crt: the CA 'CN=short-lived server CA' expires in 1[12] days/)

  const bundle = await Promise.all([1, 2, 3, 4].map((n) => testAuthority(`public CA ${n}`, { validToDays: 1000 + n })))
  const many = check(data(client, [serverCa, ...bundle].map((c) => c.cert).join('\n# a comment between certificates\n')))
  assert.equal(exitCode(many), 0)
  assert.match(lines(many)[4]!, /ca\.crt holds 5 CA certificates to verify the server: the first to expire 'CN=public CA 1' until/)
})

test('garbage instead of PEM: fail naming the key', () => {
  assert.deepEqual(lines(check({ 'tls.crt': 'hello', 'tls.key': 'world', 'ca.crt': serverCa.cert })).slice(1, 3), [
    `fail ${AT}: tls.crt is not a PEM certificate`,
    `fail ${AT}: tls.key is not a PEM private key`,
  ])
  const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'
  assert.ok(lines(check(data(client, pem(serverCa.cert, broken)))).includes(`fail ${AT}: ca.crt holds 1 PEM certificate block that does not parse`))
  // An END line running into the next BEGIN line: node:crypto reads both, OpenSSL (and Envoy) neither.
  const joined = check(data({ cert: client.cert + clientCa.cert, key: client.key }, serverCa.cert + serverCa.cert))
  assert.deepEqual(lines(joined).filter((l) => l.startsWith('fail ')), [
    `fail ${AT}: tls.crt: an END CERTIFICATE line runs into the next BEGIN CERTIFICATE line: OpenSSL, and so the sidecar, cannot read the file; put a line break between the certificates`,
    `fail ${AT}: ca.crt: an END CERTIFICATE line runs into the next BEGIN CERTIFICATE line: OpenSSL, and so the sidecar, cannot read the file; put a line break between the certificates`,
  ])
})

test('checkMaterial names files as the user gave them (probe --cert/--key/--cacert)', () => {
  const findings = checkMaterial('files', { cert: 'client.crt', key: 'client.key', cacert: 'bank-ca.crt' }, { cert: client.cert, key: client.key, cacert: serverCa.cert }, new Date())
  assert.equal(lines(findings)[0], 'ok files: client.key matches the certificate')
  assert.equal(exitCode(findings), 0)
})
