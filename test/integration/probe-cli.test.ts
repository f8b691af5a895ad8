// `egress-mtls probe` against real TLS servers this test starts on 127.0.0.1 (port 0), with
// `--connect-to` pointing the target api.bank.example.com at them. Certificates are real
// (selfsigned, EC P-256): the client's from the bank's client CA, the server's from the
// bank's server CA, which is what cacert holds.
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { createServer, type Server, type ServerOptions } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'

import { parse as parseYaml } from 'yaml'

import { tempDir } from '../support/kubelet-volume.ts'
import { clientMaterial, testAuthority } from '../support/pki.ts'
import { cliMain } from '../support/repo.ts'
import { run } from '../support/run.ts'
import { runCli } from '../support/run-cli.ts'

const HOST = 'api.bank.example.com'
const clientCa = await testAuthority('bank client CA')
const otherClientCa = await testAuthority('another client CA')
const serverCa = await testAuthority('bank server CA')
const client = await clientMaterial({ ca: clientCa })
const goodServer = await clientMaterial({ ca: serverCa, extKeyUsage: 'serverAuth', commonName: HOST, names: [HOST] })
const wrongName = await clientMaterial({ ca: serverCa, extKeyUsage: 'serverAuth', commonName: HOST, names: ['www.other.example.net'] })
const wildcard = await clientMaterial({ ca: serverCa, extKeyUsage: 'serverAuth', names: ['*.bank.example.com'] })
const expiredServer = await clientMaterial({ ca: serverCa, extKeyUsage: 'serverAuth', commonName: HOST, names: [HOST], validFromDays: -90, validToDays: -1 })

const dir = tempDir()
const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p }
const files = ['--cert', file('client.crt', client.cert), '--key', file('client.key', client.key), '--cacert', file('bank-ca.crt', serverCa.cert)]
const config = file('config.json', JSON.stringify({ targets: [{ name: 'bank-api', host: HOST, namespaces: ['payments'] }] }))

const servers: Server[] = []
after(() => { for (const s of servers) s.close() })

/** An HTTPS server on 127.0.0.1 answering 200 to anything; by default it requires a client certificate from the bank's client CA. */
async function server (cert: { cert: string, key: string }, options: ServerOptions = {}): Promise<string> {
  const s = createServer({ cert: cert.cert, key: cert.key, requestCert: true, rejectUnauthorized: true, ca: clientCa.cert, ...options }, (_req, res) => { res.end('ok') })
  servers.push(s)
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  return `127.0.0.1:${String((s.address() as AddressInfo).port)}`
}

const probe = (address: string, ...args: string[]): ReturnType<typeof runCli> =>
  runCli(['probe', 'bank-api', '--config', config, ...files, '--connect-to', address, ...args])
const lines = (stdout: string): string[] => stdout.split('\n').filter((l) => l !== '')
const ENDED = 'the probe ended the TLS handshake before presenting the client certificate: the sidecar would not trust this server'
const dated = (l: string): string => l.replace(/\d+ days \(\d{4}-\d\d-\d\d\)/, 'N days (DATE)').replace(/on \d{4}-\d\d-\d\d/, 'on DATE')

test('a server that requires a client certificate from the bank\'s client CA: every check ok, exit 0', async () => {
  const address = await server(goodServer)
  const r = await probe(address)
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const at = `${HOST}:443 via ${address}`
  assert.deepEqual(lines(r.stdout).map(dated), [
    `ok ${at}: TLS handshake done: TLSv1.3, TLS_AES_256_GCM_SHA384`,
    `ok ${at}: the server's certificate chain verifies against cacert (up to 'CN=bank server CA')`,
    `ok ${at}: the server certificate names ${HOST} (DNS:${HOST})`,
    `ok ${at}: the server certificate expires in N days (DATE)`,
    `ok ${at}: the server asked for the client certificate and accepted it: it answered HTTP/1.1 200 OK`,
    'probe: 5 ok, 0 warn, 0 fail',
  ])
  // TLS 1.2 as well, with a cipher of the sidecar's list.
  const tls12 = await probe(await server(goodServer, { maxVersion: 'TLSv1.2' }))
  assert.equal(tls12.code, 0, tls12.stdout)
  assert.match(tls12.stdout, /TLS handshake done: TLSv1\.2, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256/)
  // A wildcard certificate names the host as Envoy's matcher sees it.
  const wild = await probe(await server(wildcard))
  assert.equal(wild.code, 0, wild.stdout)
  assert.match(wild.stdout, /ok .*: the server certificate names api\.bank\.example\.com \(DNS:\*\.bank\.example\.com\)/)
})

test('-o json and -o yaml: the findings and the facts behind them', async () => {
  const address = await server(goodServer)
  const r = await probe(address, '-o', 'json')
  assert.equal(r.code, 0)
  const report = JSON.parse(r.stdout) as Record<string, unknown>
  assert.equal(report['target'], 'bank-api')
  assert.equal(report['sni'], HOST)
  assert.deepEqual(report['serverNames'], [HOST])
  assert.equal(report['connectTo'], address)
  assert.equal(report['protocol'], 'TLSv1.3')
  assert.equal(report['clientCertificateRequested'], true)
  assert.equal(report['answer'], 'HTTP/1.1 200 OK')
  assert.deepEqual((report['serverCertificate'] as Record<string, unknown>)['subjectAltNames'], [`DNS:${HOST}`])
  assert.deepEqual(report['summary'], { ok: 5, warn: 0, fail: 0 })
  const y = await probe(address, '-o', 'yaml')
  assert.equal((parseYaml(y.stdout) as Record<string, unknown>)['answer'], 'HTTP/1.1 200 OK')
})

test('a server certificate for another name: fail naming what it names, exit 1', async () => {
  const r = await probe(await server(wrongName))
  assert.equal(r.code, 1, r.stdout)
  const failures = lines(r.stdout).filter((l) => l.startsWith('fail '))
  assert.deepEqual(failures.map((l) => l.replace(/^fail [^:]+:\d+ via [^:]+:\d+: /, '')), [
    `the server certificate does not name ${HOST}: it names DNS:www.other.example.net`,
    ENDED,
  ])
})

test('an expired server certificate: the chain does not verify, exit 1', async () => {
  const r = await probe(await server(expiredServer))
  assert.equal(r.code, 1, r.stdout)
  const failures = lines(r.stdout).filter((l) => l.startsWith('fail ')).map((l) => dated(l.replace(/^fail [^:]+:\d+ via [^:]+:\d+: /, '')))
  assert.deepEqual(failures, [
    `the server's certificate chain does not verify against cacert: 'CN=${HOST}' expired on DATE (CERT_HAS_EXPIRED)`,
    'the server certificate expired on DATE',
    ENDED,
  ])
})

test('an untrusted server never receives the client certificate: the probe ends the handshake first, and says why (TLS 1.3 and 1.2)', async () => {
  /** A server that asks for a client certificate without requiring one, and records what each connection presented. */
  const recording = async (cert: { cert: string, key: string }, maxVersion: 'TLSv1.3' | 'TLSv1.2'): Promise<{ address: string, presented: Promise<string> }> => {
    const s = createServer({ cert: cert.cert, key: cert.key, requestCert: true, rejectUnauthorized: false, maxVersion }, (_req, res) => { res.end('ok') })
    servers.push(s)
    const presented = new Promise<string>((resolve) => {
      // Whichever comes first: a finished handshake (with or without a peer certificate) or a handshake cut short.
      s.once('secureConnection', (socket: TLSSocket) => { resolve(String(socket.getPeerCertificate().subject.CN ?? '(none)')) })
      s.once('tlsClientError', (err: Error) => { resolve(`(handshake failed: ${err.message})`) })
    })
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
    return { address: `127.0.0.1:${String((s.address() as AddressInfo).port)}`, presented }
  }
  const clientName = new X509Certificate(client.cert).subject.replace(/^.*CN=/s, '')
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    // The same server with a trusted certificate does receive it: the recording can tell.
    const trusted = await recording(goodServer, maxVersion)
    assert.equal((await probe(trusted.address)).code, 0)
    assert.equal(await trusted.presented, clientName, maxVersion)
    for (const [what, cert, why] of [
      ['another name', wrongName, `the server certificate does not name ${HOST}: it names DNS:www.other.example.net`],
      ['an unknown CA', await clientMaterial({ ca: otherClientCa, extKeyUsage: 'serverAuth', commonName: HOST, names: [HOST] }), "the server's certificate chain does not verify against cacert: cacert does not hold the CA that issued the server's certificate (issuer 'CN=another client CA') (UNABLE_TO_VERIFY_LEAF_SIGNATURE)"],
    ] as const) {
      const untrusted = await recording(cert, maxVersion)
      const r = await probe(untrusted.address)
      assert.equal(r.code, 1, r.stdout)
      assert.match(await untrusted.presented, /^\(handshake failed: /, `${maxVersion}, ${what}: the server saw no certificate`)
      assert.deepEqual(lines(r.stdout).filter((l) => l.startsWith('fail ')).map((l) => l.replace(/^fail [^:]+:\d+ via [^:]+:\d+: /, '')), [why, ENDED], `${maxVersion}, ${what}`)
    }
  }
})

test('a server that trusts another client CA refuses the client: exit 1, in TLS 1.3 and 1.2', async () => {
  const tls13 = await probe(await server(goodServer, { ca: otherClientCa.cert }))
  assert.equal(tls13.code, 1, tls13.stdout)
  assert.deepEqual(lines(tls13.stdout).filter((l) => l.startsWith('fail ')).map((l) => l.replace(/^fail [^:]+:\d+ via [^:]+:\d+: /, '')), [
    'the server asked for the client certificate, then closed the connection without answering: it refused the certificate',
  ])
  const tls12 = await probe(await server(goodServer, { ca: otherClientCa.cert, maxVersion: 'TLSv1.2' }))
  assert.equal(tls12.code, 1, tls12.stdout)
  assert.match(tls12.stdout, /^fail .*: the TLS handshake failed: the server closed the connection during it \(it may have refused the client certificate\)$/m)
})

test('a server certificate used as the client certificate: the material check says why the server refuses it', async () => {
  const serverAsClient = await clientMaterial({ ca: clientCa, extKeyUsage: 'serverAuth' })
  const r = await runCli(['probe', 'bank-api', '--config', config, '--cert', file('server.crt', serverAsClient.cert), '--key', file('server.key', serverAsClient.key), '--cacert', file('bank-ca.crt', serverCa.cert), '--connect-to', await server(goodServer, { maxVersion: 'TLSv1.2' })])
  assert.equal(r.code, 1, r.stdout)
  assert.deepEqual(lines(r.stdout).filter((l) => l.startsWith('fail ')).map((l) => l.replace(/^fail [^:]+:\d+ via [^:]+:\d+: /, '')), [
    "fail files: the client certificate's extended key usage (serverAuth) lacks clientAuth: servers that check it (OpenSSL, Go, Java) refuse the certificate",
    'the TLS handshake failed: the server closed the connection during it (it may have refused the client certificate)',
  ])
})

test('intermediates: the client must send its intermediate when the server trusts only the root; the server\'s own intermediate verifies against a root in cacert', async () => {
  const clientRoot = await testAuthority('client root')
  const clientIntermediate = await testAuthority('client intermediate', { parent: clientRoot })
  const leaf = await clientMaterial({ ca: clientIntermediate })
  const serverRoot = await testAuthority('server root')
  const serverIntermediate = await testAuthority('server intermediate', { parent: serverRoot })
  const serving = await clientMaterial({ ca: serverIntermediate, extKeyUsage: 'serverAuth', commonName: HOST, names: [HOST] })
  const address = await server({ cert: `${serving.cert}\n${serverIntermediate.cert}\n`, key: serving.key }, { ca: clientRoot.cert })
  const run = (cert: string): ReturnType<typeof runCli> => runCli(['probe', 'bank-api', '--config', config, '--cert', file('chain.crt', cert), '--key', file('leaf.key', leaf.key), '--cacert', file('roots.crt', serverRoot.cert), '--connect-to', address])

  const whole = await run(`${leaf.cert}\n${clientIntermediate.cert}\n`)
  assert.equal(whole.code, 0, whole.stdout)
  assert.match(whole.stdout, /^ok .*: the server's certificate chain verifies against cacert \(up to 'CN=server root'\)$/m)
  const alone = await run(leaf.cert)
  assert.equal(alone.code, 1, alone.stdout)
  assert.match(alone.stdout, /^fail .*: the server asked for the client certificate, then closed the connection without answering: it refused the certificate$/m)
})

test('a server that does not ask for a client certificate: warn, exit 0 (the sidecar succeeds, without mutual TLS)', async () => {
  const r = await probe(await server(goodServer, { requestCert: false, rejectUnauthorized: false }))
  assert.equal(r.code, 0, r.stdout)
  assert.match(r.stdout, /^warn .*: the server did not ask for a client certificate: it answered HTTP\/1\.1 200 OK without mutual TLS$/m)
})

test('a mutual-TLS server that does not answer HEAD (not HTTP): the probe says so, warn, exit 0', async () => {
  const quiet = createTlsServer({ cert: goodServer.cert, key: goodServer.key, requestCert: true, rejectUnauthorized: true, ca: clientCa.cert }, (socket) => { socket.on('data', () => undefined) })
  const open: TLSSocket[] = []
  quiet.on('secureConnection', (s) => open.push(s))
  await new Promise<void>((resolve) => quiet.listen(0, '127.0.0.1', resolve))
  try {
    const r = await probe(`127.0.0.1:${String((quiet.address() as AddressInfo).port)}`, '--timeout', '2')
    assert.equal(r.code, 0, r.stdout)
    assert.match(r.stdout, /^warn .*: the server did not answer HEAD \/ \(no answer within 2 s\): it may not speak HTTP, or not answer HEAD; it sent no alert against the client certificate/m)
  } finally {
    for (const s of open) s.destroy()
    quiet.close()
  }
})

test('nothing listening: fail "cannot connect"; bad usage exits 2 saying what', async () => {
  const closed = await server(goodServer)
  servers.pop()?.close()
  await new Promise((resolve) => setTimeout(resolve, 50))
  const r = await probe(closed)
  assert.equal(r.code, 1)
  assert.match(r.stdout, /^fail .*: cannot connect: connect ECONNREFUSED/m)

  // No material given and the API server does not answer: a failing finding, not a stack trace.
  const kubeconfig = file('kubeconfig', `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://${closed}" } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`)
  const api = await runCli(['probe', 'bank-api', '--config', config, '--kubeconfig', kubeconfig, '--timeout', '1'])
  assert.equal(api.code, 1, api.stderr)
  assert.match(api.stdout, /^fail Secret payments\/bank-api-mtls \(target bank-api\): cannot read: .*ECONNREFUSED/m)

  const some = await runCli(['probe', 'bank-api', '--config', config, '--cert', 'a.crt'])
  assert.equal(some.code, 2)
  assert.match(some.stderr, /--cert, --key and --cacert go together/)
  const unknown = await runCli(['probe', 'tax', '--config', config, ...files])
  assert.equal(unknown.code, 2)
  assert.match(unknown.stderr, /unknown target "tax" \(targets: bank-api\)/)
  const where = await runCli(['probe', 'bank-api', '--config', config, ...files, '--connect-to', ':8443'])
  assert.equal(where.code, 2)
  assert.match(where.stderr, /--connect-to ":8443": must be HOST:PORT/)
  const missing = await runCli(['probe', 'bank-api', '--config', config, '--cert', join(dir, 'nope.crt'), '--key', 'x', '--cacert', 'y'])
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /nope\.crt: cannot be read: no such file or directory/)
})

test('the installed command line runs probe (a child process)', async () => {
  const address = await server(goodServer)
  const r = await run(process.execPath, [cliMain, 'probe', 'bank-api', '--config', config, ...files, '--connect-to', address], { timeoutMs: 30_000 })
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /^probe: 5 ok, 0 warn, 0 fail$/m)
})
