// The server's name is verified by default: what `provision` stores in a real kube-apiserver
// (Istio's CRDs and their CEL rules) carries `subjectAltNames`, and turning the check off
// (`verifyServerName: false`) is accepted with a warning on stderr. Uses the shared control
// plane with `provision --no-prune`, which deletes nothing of other test files.
import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'

import { resolvedConfig } from '../support/config.ts'
import { KUBECONFIG_ENV, kubeJson, loadKubeConfig } from '../support/kube.ts'
import { freshNamespace } from '../support/namespaces.ts'
import { runCli } from '../support/run-cli.ts'

const kc = loadKubeConfig()
const kubeconfig = process.env[KUBECONFIG_ENV] ?? ''
const dir = await mkdtemp(join(tmpdir(), 'egress-mtls-server-name-'))

interface LiveTls { sni?: string, subjectAltNames?: string[], caCertificates?: string }

async function provisioned (t: TestContext, target: Record<string, unknown>): Promise<{ tls: LiveTls, stderr: string }> {
  const ns = await freshNamespace(kc, 'server-name')
  t.after(() => ns.cleanup())
  const raw = { targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: [ns.name], ...target }] }
  resolvedConfig(raw)
  const config = join(dir, `${ns.name}.json`)
  await writeFile(config, JSON.stringify(raw))
  const r = await runCli(['provision', '--no-prune', '--config', config, '--kubeconfig', kubeconfig, '--timeout', '30'])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /provisioned: 2 created/)
  const dr = await kubeJson(kc, { path: `/apis/networking.istio.io/v1/namespaces/${ns.name}/destinationrules/egress-mtls-bank-api` }) as
    { spec: { trafficPolicy: { portLevelSettings: { tls: LiveTls }[] } } }
  const tls = dr.spec.trafficPolicy.portLevelSettings[0]?.tls
  assert.ok(tls)
  // Other warnings (the Secret is missing here) are provision's own business.
  return { tls, stderr: r.stderr.split('\n').filter((line) => line.includes('verifyServerName')).join('\n') }
}

test('by default the stored DestinationRule verifies the server name: subjectAltNames [sni], no warning', async (t) => {
  const plain = await provisioned(t, {})
  assert.deepEqual(plain.tls.subjectAltNames, ['api.bank.example.com'])
  assert.equal(plain.stderr, '')
  const sni = await provisioned(t, { sni: 'front.bank.example.com' })
  assert.deepEqual(sni.tls.subjectAltNames, ['front.bank.example.com'])
  assert.equal(sni.tls.sni, 'front.bank.example.com')
})

test('verifyServerName: false is applied without subjectAltNames and provision warns', async (t) => {
  const off = await provisioned(t, { verifyServerName: false })
  assert.equal(off.tls.subjectAltNames, undefined)
  assert.equal(off.tls.sni, 'api.bank.example.com')
  assert.equal(off.stderr, 'warning: target bank-api: verifyServerName is false: the sidecar accepts any server certificate signed by the CA in its cacert, whatever name it carries (not only api.bank.example.com)')
})
