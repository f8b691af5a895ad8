// `egress-mtls probe` with the material of the target's Secret, read from a real
// kube-apiserver, against an HTTPS server this test starts on 127.0.0.1 (--connect-to).
import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'

import { KUBECONFIG_ENV, kubeJson, loadKubeConfig } from '../support/kube.ts'
import { freshNamespace } from '../support/namespaces.ts'
import { clientMaterial, testAuthority } from '../support/pki.ts'
import { runCli } from '../support/run-cli.ts'

const kc = loadKubeConfig()
const kubeconfig = process.env[KUBECONFIG_ENV] ?? ''
const HOST = 'api.bank.example.com'

test('the Secret of the target in the namespace: read from the cluster, the handshake succeeds; no Secret fails', async (t) => {
  const clientCa = await testAuthority('bank client CA')
  const serverCa = await testAuthority('bank server CA')
  const client = await clientMaterial({ ca: clientCa })
  const serving = await clientMaterial({ ca: serverCa, extKeyUsage: 'serverAuth', commonName: HOST, names: [HOST] })
  const tls = { cert: serving.cert, key: serving.key, requestCert: true, rejectUnauthorized: true, ca: clientCa.cert }
  const server = createServer(tls, (_req, res) => { res.end() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  after(() => server.close())
  const address = `127.0.0.1:${String((server.address() as AddressInfo).port)}`

  const ns = await freshNamespace(kc, 'probe')
  t.after(() => ns.cleanup())
  const config = join(await mkdtemp(join(tmpdir(), 'egress-mtls-probe-')), 'config.json')
  await writeFile(config, JSON.stringify({ targets: [{ name: 'bank-api', host: HOST, namespaces: [ns.name, 'elsewhere'] }] }))
  const probe = (...args: string[]): ReturnType<typeof runCli> =>
    runCli(['probe', 'bank-api', '--config', config, '--kubeconfig', kubeconfig, '--connect-to', address, ...args])

  const missing = await probe('-n', ns.name)
  assert.equal(missing.code, 1)
  assert.deepEqual(missing.stdout.split('\n').filter((l) => l !== ''), [
    `fail Secret ${ns.name}/bank-api-mtls (target bank-api): not found; create it with keys cert, key, cacert`,
    'probe: 0 ok, 0 warn, 1 fail',
  ])

  await kubeJson(kc, { method: 'POST', path: `/api/v1/namespaces/${ns.name}/secrets`, body: { metadata: { name: 'bank-api-mtls' }, stringData: { cert: client.cert, key: client.key, cacert: serverCa.cert } } })
  const r = await probe('-n', ns.name)
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /^ok .*: the server asked for the client certificate and accepted it: it answered HTTP\/1\.1 200 OK$/m)
  assert.match(r.stdout, /^probe: 5 ok, 0 warn, 0 fail$/m)

  // Two namespaces hold the target: which Secret is meant must be said.
  const ambiguous = await probe()
  assert.equal(ambiguous.code, 2)
  assert.match(ambiguous.stderr, /target bank-api is available in .*elsewhere: say whose Secret to use with -n NAMESPACE/)
})
