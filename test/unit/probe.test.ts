// The judgement of `probe` (core/tls/probe.ts) on observations as io/tls-probe.ts reports them:
// what each failure means, the names the sidecar checks, the facts for -o yaml|json. The
// real connections are in test/integration/probe-cli.test.ts.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { about, exitCode, formatFinding } from '../../src/core/base/findings.ts'
import { judgeProbe, type Observation, probeDetails, probePlan, probeRequest, UNTRUSTED_SERVER, untrustedServer, withMaterial } from '../../src/core/tls/probe.ts'
import { resolvedConfig } from '../support/config.ts'
import { clientMaterial, testAuthority } from '../support/pki.ts'

const config = resolvedConfig({
  targets: [
    { name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'] },
    { name: 'tax-gw', host: 'gw.tax.example.org', port: 8443, sni: 'mtls.tax.example.org', namespaces: ['billing'] },
    { name: 'pay', host: 'pay.example.com', subjectAltNames: ['spiffe://pay.example.com/gw', 'edge.pay.example.com'], namespaces: ['billing'] },
  ],
})
const [bank, tax, pay] = config.targets as [typeof config.targets[0], typeof config.targets[0], typeof config.targets[0]]
const ca = await testAuthority('server CA')
const server = await clientMaterial({ ca, extKeyUsage: 'serverAuth', names: ['api.bank.example.com'] })
const handshaken: Observation = {
  protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', clientCertificateRequested: true, verifyError: null, serverChain: [server.cert, ca.cert],
}
const done: Observation = { ...handshaken, answer: 'HTTP/1.1 404 Not Found' }
const plan = probePlan(bank)
const judge = (seen: Observation): string[] => judgeProbe(plan, seen, new Date()).map(formatFinding)

test('the names the sidecar checks: subjectAltNames, else sni (the host by default), none with verifyServerName: false', () => {
  assert.deepEqual(probePlan(bank).serverNames, ['api.bank.example.com'])
  assert.deepEqual(probePlan(tax).serverNames, ['mtls.tax.example.org'])
  assert.deepEqual(probePlan(pay).serverNames, ['spiffe://pay.example.com/gw', 'edge.pay.example.com'])
  const off = resolvedConfig({ targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'], verifyServerName: false }] }).targets[0]!
  assert.deepEqual(probePlan(off).serverNames, [])
  assert.equal(probeRequest(probePlan(tax), 'ua/1'), 'HEAD / HTTP/1.1\r\nHost: gw.tax.example.org:8443\r\nUser-Agent: ua/1\r\nConnection: close\r\n\r\n')
  assert.match(probeRequest(plan, 'ua/1'), /^HEAD \/ HTTP\/1\.1\r\nHost: api\.bank\.example\.com\r\n/)
})

test('failures before an answer: each says what the server did', () => {
  const at = 'api.bank.example.com:443'
  const handshake = (code: string, message: string): string[] => judge({ serverChain: [], failure: { stage: 'handshake', code, message } })
  assert.deepEqual(judge({ serverChain: [], failure: { stage: 'connect', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1' } }), [`fail ${at}: cannot connect: connect ECONNREFUSED 127.0.0.1:1`])
  assert.deepEqual(handshake('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'error:0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48'),
    [`fail ${at}: the TLS handshake failed: the server refused the client certificate (alert unknown_ca)`])
  assert.match(handshake('ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE', 'ssl/tls alert handshake failure:SSL alert number 40')[0]!, /alert handshake_failure\): it wants a client certificate/)
  assert.match(handshake('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'SSL alert number 70')[0]!, /no TLS version in common/)
  assert.match(handshake('timeout', 'no handshake within 10 s')[0]!, /the TLS handshake failed: no handshake within 10 s$/)

  const after = judge({ ...handshaken, failure: { stage: 'answer', code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', message: 'tlsv13 alert certificate required:SSL alert number 116' } })
  assert.equal(after.at(-1), `fail ${at}: the server refused the client certificate after the handshake (alert certificate_required)`)
  const silent = judge({ ...handshaken, clientCertificateRequested: false, failure: { stage: 'answer', code: 'closed', message: 'the server closed the connection' } })
  assert.equal(silent.at(-1), `fail ${at}: the server closed the connection after the handshake without answering`)
})

test('a server that does not answer HEAD: said, a warning (the handshake, which is what the sidecar does, went through)', () => {
  const at = 'api.bank.example.com:443'
  const quiet = (o: Partial<Observation>): string[] => judge({ ...handshaken, ...o, failure: { stage: 'answer', code: 'timeout', message: 'no answer within 10 s' } })
  assert.equal(quiet({}).at(-1), `warn ${at}: the server did not answer HEAD / (no answer within 10 s): it may not speak HTTP, or not answer HEAD; ` +
    'it sent no alert against the client certificate (a TLS 1.3 server refuses one right after the handshake)')
  assert.match(quiet({ protocol: 'TLSv1.2' }).at(-1) ?? '', /no alert against the client certificate \(TLS 1\.2 accepted it in the handshake\)$/)
  assert.match(quiet({ clientCertificateRequested: false }).at(-1) ?? '', /^warn .*did not answer HEAD .*; it did not ask for a client certificate \(no mutual TLS\)$/)
  assert.equal(exitCode(judgeProbe(plan, { ...handshaken, failure: { stage: 'answer', code: 'timeout', message: 'x' } }, new Date())), 0)
})

test('the chain and the name: an unknown issuer, a name not carried, the check turned off', async () => {
  const unknown = judge({ ...done, verifyError: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', serverChain: [server.cert] })
  assert.ok(unknown.includes("fail api.bank.example.com:443: the server's certificate chain does not verify against cacert: cacert does not hold the CA that issued the server's certificate (issuer 'CN=server CA') (UNABLE_TO_GET_ISSUER_CERT_LOCALLY)"), unknown.join('\n'))

  const edge = await clientMaterial({ ca, extKeyUsage: 'serverAuth', names: ['edge.pay.example.com'] })
  const payPlan = probePlan(pay)
  const named = judgeProbe(payPlan, { ...done, serverChain: [edge.cert, ca.cert] }, new Date())
  assert.equal(exitCode(named), 0)
  assert.ok(named.some((f) => f.message === 'the server certificate names edge.pay.example.com (DNS:edge.pay.example.com)'))
  // A CN is never a name for Envoy, and a wildcard covers one label only.
  const cnOnly = await clientMaterial({ ca, extKeyUsage: 'serverAuth', commonName: 'api.bank.example.com' })
  assert.ok(judge({ ...done, serverChain: [cnOnly.cert] }).includes('fail api.bank.example.com:443: the server certificate does not name api.bank.example.com: it names no subjectAltName'))
  const deep = await clientMaterial({ ca, extKeyUsage: 'serverAuth', names: ['*.example.com'] })
  assert.ok(judge({ ...done, serverChain: [deep.cert] }).some((l) => l.startsWith('fail ') && l.includes('does not name')))

  // verifyServerName: false renders no names: the probe warns and does not fail on a foreign name.
  const off = judgeProbe({ ...plan, serverNames: [] }, { ...done, serverChain: [deep.cert] }, new Date())
  assert.equal(exitCode(off), 0)
  assert.ok(off.some((f) => f.level === 'warn' && f.message.startsWith('the server name is not verified (verifyServerName: false)')))
})

test('a server the sidecar would not trust is judged before the client certificate is sent (untrustedServer), and the report says why', async () => {
  const other = await clientMaterial({ ca, extKeyUsage: 'serverAuth', names: ['www.other.example.net'] })
  assert.equal(untrustedServer(['api.bank.example.com'], [server.cert, ca.cert], null), undefined)
  assert.equal(untrustedServer(['api.bank.example.com'], [server.cert], 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'), "the server's chain does not verify against cacert: UNABLE_TO_VERIFY_LEAF_SIGNATURE")
  assert.equal(untrustedServer(['api.bank.example.com', 'edge.example.com'], [other.cert], null), 'the server certificate does not name api.bank.example.com or edge.example.com')
  assert.equal(untrustedServer([], [other.cert], null), undefined, 'verifyServerName: false: the chain alone')
  assert.equal(untrustedServer(['api.bank.example.com'], [], null), 'the server sent no certificate')

  const ended = judge({ protocol: 'TLSv1.3', verifyError: null, serverChain: [other.cert], failure: { stage: 'handshake', code: UNTRUSTED_SERVER, message: 'the server certificate does not name api.bank.example.com' } })
  assert.deepEqual(ended.filter((l) => l.startsWith('fail ')), [
    'fail api.bank.example.com:443: the server certificate does not name api.bank.example.com: it names DNS:www.other.example.net',
    'fail api.bank.example.com:443: the probe ended the TLS handshake before presenting the client certificate: the sidecar would not trust this server',
  ])
})

test('the facts for -o yaml|json', () => {
  const details = probeDetails(probePlan(bank, { host: '127.0.0.1', port: 8443 }), done, new Date())
  assert.equal(details['connectTo'], '127.0.0.1:8443')
  assert.equal(details['clientCertificateRequested'], true)
  assert.deepEqual((details['serverCertificate'] as Record<string, unknown>)['subjectAltNames'], ['DNS:api.bank.example.com'])
  assert.equal(details['failure'], undefined)
  assert.equal(probeDetails(probePlan(bank, { host: '::1', port: 8443 }), done, new Date())['connectTo'], '[::1]:8443')
})

test('the material\'s problems: as they are when the connection failed, warnings when the server accepted it anyway', () => {
  const files = about('files')
  const material = [files.ok('client.key matches the certificate'), files.fail("the client certificate's extended key usage (serverAuth) lacks clientAuth: ...")]
  const accepted = withMaterial(material, judgeProbe(plan, done, new Date()))
  assert.equal(exitCode(accepted), 0)
  assert.equal(formatFinding(accepted[0]!), "warn files: the client certificate's extended key usage (serverAuth) lacks clientAuth: ...")
  const refused = withMaterial(material, judgeProbe(plan, { serverChain: [], failure: { stage: 'handshake', code: 'x', message: 'SSL alert number 42' } }, new Date()))
  assert.deepEqual(refused.map((f) => f.level), ['fail', 'fail'])
  assert.match(formatFinding(refused[1]!), /the server refused the client certificate \(alert bad_certificate\)$/)
})
