// Istio tier: a renewed Secret reaches Envoy, every time, with the real code of both sides.
// A Deployment goes through `egress-mtls inject` and Istio's injector (istio-check inject):
// its Pod's volume and istio-proxy's mount of it. Istio's Envoy configuration generation
// (istio-check envoy) gives the labelled sidecar's cluster the SDS resource names of the
// rendered DestinationRule (file-cert:<cert>~<key>, file-root:<cacert>). Then kubelet's own
// code (atomic-writer: pkg/volume/secret MakePayload and pkg/volume/util AtomicWriter)
// publishes three versions of the Secret through that volume into that mount directory, and
// pilot-agent's own secret cache and SDS server (istio-check sds), subscribed to both names
// as Envoy subscribes, delivers each version, in order, byte for byte. Istio releases before
// 1.29.3 and 1.30.3 delivered the first rotation only (istio/istio#59912): here the second
// and third must arrive too.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'

import { parseAllDocuments } from 'yaml'

import { render } from '../../src/core/istio/render.ts'
import { parseCertificate } from '../../src/core/tls/x509.ts'
import { resolvedConfig } from '../support/config.ts'
import { type ClientMaterial, clientMaterial, fingerprint } from '../support/pki.ts'
import { BUILD_TIMEOUT_MS, egressMtls, envoy, istioCheck, istioCheckBinary, yamlDocuments } from './istio-check.ts'
import { atomicWriterBinary, type Delivery, publishSecret, type SecretVolumeSource, subscribe } from './rotation-harness.ts'

await test('istio-check and atomic-writer are built (or found in the cache)', { timeout: BUILD_TIMEOUT_MS }, async () => {
  await Promise.all([istioCheckBinary(), atomicWriterBinary()])
})

/** How long one version may take to reach the subscriber (a loaded machine; it takes well under a second). */
const DELIVERY_MS = 30_000
const HOST = 'api.bank.example.com'
const TARGET = 'bank-api'

const root = await mkdtemp(join(tmpdir(), 'egress-mtls-istio-rotation-'))
after(() => rm(root, { recursive: true, force: true }))
const raw = { mountRoot: join(root, 'etc', 'egress-mtls'), targets: [{ name: TARGET, host: HOST, port: 8443, plainPort: 8080, namespaces: ['payments'] }] }
const configFile = join(root, 'config.json')
await writeFile(configFile, JSON.stringify(raw))

const DEPLOYMENT = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'checkout', namespace: 'payments', labels: { 'egress-mtls.io/inject': 'true' } },
  spec: {
    selector: { matchLabels: { app: 'checkout' } },
    template: { metadata: { labels: { app: 'checkout' } }, spec: { containers: [{ name: 'app', image: 'checkout:1.0' }] } },
  },
}

interface PodTemplate {
  metadata: { labels: Record<string, string>, annotations?: Record<string, string> }
  spec: unknown
}
interface Pod {
  metadata: { name: string, namespace: string, labels: Record<string, string> }
  spec: {
    containers: { name: string, volumeMounts?: { name: string, mountPath: string }[] }[]
    volumes?: { name: string, secret?: SecretVolumeSource }[]
  }
}

/** What the Pod gets: the Secret volume, where istio-proxy mounts it, and its labels. */
async function injectedPod (): Promise<{ volume: SecretVolumeSource, mountPath: string, labels: Record<string, string> }> {
  const ours = await egressMtls(['inject', '--config', configFile], yamlDocuments([DEPLOYMENT]))
  assert.equal(ours.code, 0, ours.stderr)
  const [deployment] = parseAllDocuments(ours.stdout).map((d) => d.toJS() as { spec: { template: PodTemplate } })
  assert.ok(deployment)
  const t = deployment.spec.template
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...t.metadata, name: 'checkout-0', namespace: 'payments' }, spec: t.spec }
  const injected = await istioCheck('inject', yamlDocuments([pod])) as { objects: Pod[] }
  const [p] = injected.objects
  assert.ok(p)
  const volume = p.spec.volumes?.find((v) => v.name === `egress-mtls-${TARGET}`)?.secret
  assert.ok(volume, 'the Pod has the target\'s Secret volume')
  const mount = p.spec.containers.find((c) => c.name === 'istio-proxy')?.volumeMounts?.find((m) => m.name === `egress-mtls-${TARGET}`)
  assert.ok(mount, 'istio-proxy mounts it')
  return { volume, mountPath: mount.mountPath, labels: p.metadata.labels }
}

/** The SDS resource names Istio gives the labelled sidecar's cluster for the plain port. */
async function sdsNames (labels: Record<string, string>): Promise<{ cert: string, root: string }> {
  const [proxy] = await envoy(render(resolvedConfig(raw)), [{ name: 'checkout-0', namespace: 'payments', labels }])
  assert.ok(proxy)
  const route = proxy.routes.find((r) => r.name === '8080')?.virtual_hosts.find((v) => v.domains.includes(HOST))?.routes[0]?.route?.cluster
  const tls = proxy.clusters.find((c) => c.name === route)?.transport_socket?.typed_config.common_tls_context
  const cert = tls?.tls_certificate_sds_secret_configs?.map((s) => s.name)
  const rootName = tls?.combined_validation_context?.validation_context_sds_secret_config.name
  assert.ok(cert?.length === 1 && cert[0] !== undefined && rootName !== undefined, `cluster ${String(route)}: one certificate and one root by SDS`)
  return { cert: cert[0], root: rootName }
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')
const serial = (m: ClientMaterial): string => parseCertificate(m.cert).serialNumber

/** The Secret of one version, under the keys the volume's items read. */
function secretOf (volume: SecretVolumeSource, m: ClientMaterial): unknown {
  const byPath: Record<string, string> = { cert: m.cert, key: m.key, cacert: m.cacert }
  const data = Object.fromEntries((volume.items ?? []).map((i) => [i.key, Buffer.from(byPath[i.path] ?? '').toString('base64')]))
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: volume.secretName, namespace: 'payments' }, data }
}

const pod = await injectedPod()
const names = await sdsNames(pod.labels)
// Three versions, each with its own CA, so that the root changes with the certificate.
const versions = [
  await clientMaterial({ commonName: 'checkout v1' }),
  await clientMaterial({ commonName: 'checkout v2' }),
  await clientMaterial({ commonName: 'checkout v3' }),
]

test('the DestinationRule names, over SDS, the files istio-proxy mounts from the target\'s Secret', () => {
  assert.deepEqual(names, { cert: `file-cert:${pod.mountPath}/cert~${pod.mountPath}/key`, root: `file-root:${pod.mountPath}/cacert` })
  assert.deepEqual(pod.volume.items?.map((i) => i.path), ['cert', 'key', 'cacert'])
  assert.equal(new Set(versions.map(serial)).size, 3, 'three distinct serials')
})

test('kubelet publishes three versions of the Secret; pilot-agent delivers each to Envoy\'s two SDS streams, in order, byte for byte', { timeout: 4 * DELIVERY_MS }, async (t) => {
  // The certificate chain goes out as the file's bytes; the root as the certificates the
  // file holds, each re-encoded as PEM (security/pkg/pki/util ParseRootCerts): compared by
  // its fingerprint, and it must hold exactly the one certificate written.
  const rootOf = (pem: string | undefined): string | undefined =>
    pem?.match(/-----BEGIN CERTIFICATE-----/g)?.length === 1 ? fingerprint(pem) : undefined
  /** Which version a delivery carries (-1: none written). */
  const versionOf = (d: Delivery): number => versions.findIndex((v) =>
    d.resource === names.cert ? d.certificateChain === v.cert : rootOf(d.trustedCa) === fingerprint(v.cacert))
  await publishSecret(pod.mountPath, pod.volume, secretOf(pod.volume, versions[0]!))
  const sds = await subscribe([names.cert, names.root])
  try {
    for (const [i, v] of versions.entries()) {
      await t.test(i === 0 ? 'version 1, on subscription' : `rotation ${i}: version ${i + 1} (serial ${serial(v)})`, async (st) => {
        const start = performance.now()
        if (i > 0) await publishSecret(pod.mountPath, pod.volume, secretOf(pod.volume, v))
        const written = performance.now()
        const got = await Promise.all([names.cert, names.root].map((name) =>
          sds.waitFor((d) => d.resource === name && versionOf(d) === i, DELIVERY_MS, `version ${i + 1} of ${name}`)))
        const at = Math.max(...got.map((d) => d.at))
        if (i > 0) st.diagnostic(`rotation ${i}: both resources delivered ${(at - start).toFixed(0)} ms after atomic-writer started (the process took ${(written - start).toFixed(0)} ms)`)
      })
    }
  } finally {
    const { code, stderr } = await sds.stop()
    assert.equal(code, 0, stderr)
  }

  await t.test('every response carries a version written, never an older one after a newer; the key is the certificate\'s own', () => {
    for (const name of [names.cert, names.root]) {
      const seen = sds.deliveries.filter((d) => d.resource === name).map(versionOf)
      assert.ok(!seen.includes(-1), `${name}: only versions written (${JSON.stringify(seen)})`)
      assert.deepEqual([...new Set(seen)], [0, 1, 2], `${name}: versions 1, 2, 3, in order (${JSON.stringify(seen)})`)
      assert.deepEqual(seen, [...seen].sort((a, b) => a - b), `${name}: never back to an older version`)
    }
    for (const d of sds.deliveries.filter((x) => x.resource === names.cert)) {
      assert.equal(d.privateKeySha256, sha256(versions[versionOf(d)]!.key), `${d.version}: the key of the certificate delivered with it`)
    }
  })
})
