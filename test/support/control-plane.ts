// The end-to-end tier's control plane: a real kube-apiserver + etcd on loopback, started the
// way controller-runtime's envtest starts them, with Istio's CRDs (see test/e2e/README.md).
import { generateKeyPair } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'

import type { KubeConfig } from '@kubernetes/client-node'

import { type E2EBinaries, ensureBinaries } from './binaries.ts'
import { gatewayApiCrdsPath, installIstioCrds } from './crds.ts'
import { kubeRequest, loadKubeConfig } from './kube.ts'
import { issue, testAuthority } from './pki.ts'
import { distinctPorts } from './ports.ts'
import { forgetDir, type Proc, startProc, stopProc, tail, trackDir } from './processes.ts'

export interface Pki {
  caCert: string
  caKey: string
  servingCert: string
  servingKey: string
  clientCert: string
  clientKey: string
  saPublicKey: string
  saPrivateKey: string
}

const generateKeyPairAsync = promisify(generateKeyPair)

/**
 * One CA (EC P-256, SHA-256) signing the API server's serving certificate
 * (127.0.0.1, ::1, localhost) and an admin client certificate (O=system:masters),
 * plus an RSA key pair for service-account tokens. All valid from an hour ago for a week.
 */
export async function makePki (): Promise<Pki> {
  const validity = { validFromDays: -1 / 24, validToDays: 7 }
  const [ca, sa] = await Promise.all([
    testAuthority('egress-mtls-e2e-ca', validity),
    generateKeyPairAsync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    }),
  ])
  const [serving, client] = await Promise.all([
    issue(ca, { ...validity, commonName: 'kube-apiserver', extKeyUsage: 'serverAuth', names: ['localhost', '127.0.0.1', '::1'] }),
    issue(ca, { ...validity, commonName: 'egress-mtls-e2e-admin', organization: 'system:masters', extKeyUsage: 'clientAuth' }),
  ])
  return {
    caCert: ca.cert,
    caKey: ca.key,
    servingCert: serving.cert,
    servingKey: serving.key,
    clientCert: client.cert,
    clientKey: client.key,
    saPublicKey: sa.publicKey,
    saPrivateKey: sa.privateKey,
  }
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')

/** A kubeconfig (YAML is a superset of JSON) with the client material inlined. */
export function renderKubeconfig (server: string, pki: Pki): string {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { server, 'certificate-authority-data': b64(pki.caCert) } }],
    users: [{ name: 'admin', user: { 'client-certificate-data': b64(pki.clientCert), 'client-key-data': b64(pki.clientKey) } }],
    contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'admin', namespace: 'default' } }],
    'current-context': 'e2e',
    preferences: {},
  }
  return JSON.stringify(config, null, 2) + '\n'
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  server: string
  /** kubeconfig file (admin, system:masters). */
  kubeconfigPath: string
  /** Temporary directory holding certificates, etcd data and logs (removed by stop()). */
  dir: string
  etcdUrl: string
  pki: Pki
  binaries: E2EBinaries
  /** SIGTERM kube-apiserver then etcd (SIGKILL after a grace period) and remove `dir`. Idempotent. */
  stop: () => Promise<void>
}

export interface StartOptions {
  /** Binaries to use; default: ensureBinaries(). */
  binaries?: E2EBinaries
  /** Extra kube-apiserver flags, e.g. ['--feature-gates=...']. */
  apiserverFlags?: string[]
  /** How long to wait for /readyz (default 120 s). */
  readyTimeoutMs?: number
  /** Keep `dir` (logs) on stop; also set by EGRESS_MTLS_E2E_KEEP=1. */
  keepDir?: boolean
  /** Progress messages (default: to stderr). */
  log?: (msg: string) => void
}

async function waitReady (kc: KubeConfig, procs: Proc[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    for (const p of procs) {
      if (p.exitCode !== undefined) {
        throw new Error(`${p.name} exited (code ${String(p.exitCode)}) during startup; log ${p.logPath}:\n${tail(p.logPath)}`)
      }
    }
    try {
      const r = await kubeRequest(kc, { path: '/readyz', timeoutMs: 5_000 })
      if (r.status === 200) return
      last = `HTTP ${r.status}: ${r.body.slice(0, 2000)}`
    } catch (err) {
      last = (err as Error).message
    }
    if (Date.now() > deadline) {
      throw new Error(`kube-apiserver not ready after ${timeoutMs} ms (last: ${last})`)
    }
    await sleep(250)
  }
}

async function waitEtcd (url: string, proc: Proc, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (proc.exitCode !== undefined) {
      throw new Error(`etcd exited (code ${String(proc.exitCode)}) during startup; log ${proc.logPath}:\n${tail(proc.logPath)}`)
    }
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) })
      if (r.ok) return
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`etcd not healthy after ${timeoutMs} ms; log ${proc.logPath}:\n${tail(proc.logPath)}`)
    await sleep(100)
  }
}

/**
 * Starts etcd and kube-apiserver on loopback with free ports, writes a kubeconfig
 * and waits for /readyz. Does not install CRDs (see installIstioCrds).
 */
export async function startControlPlane (opts: StartOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? ((m: string) => { process.stderr.write(`[e2e] ${m}\n`) })
  const binaries = opts.binaries ?? (await ensureBinaries())
  const keep = opts.keepDir ?? process.env['EGRESS_MTLS_E2E_KEEP'] === '1'
  const t0 = Date.now()
  const dir = await mkdtemp(join(tmpdir(), 'egress-mtls-e2e-'))
  if (!keep) trackDir(dir)
  const procs: Proc[] = []
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    // kube-apiserver first (it needs etcd to shut down cleanly), then etcd.
    for (const p of [...procs].reverse()) await stopProc(p, 10_000)
    if (keep) log(`kept ${dir}`)
    else await rm(dir, { recursive: true, force: true })
    forgetDir(dir)
  }
  try {
    const pki = await makePki()
    const files = {
      ca: join(dir, 'ca.crt'),
      servingCert: join(dir, 'apiserver.crt'),
      servingKey: join(dir, 'apiserver.key'),
      saPub: join(dir, 'sa.pub'),
      saKey: join(dir, 'sa.key'),
      kubeconfig: join(dir, 'kubeconfig'),
    }
    await mkdir(join(dir, 'etcd'), { mode: 0o700 })
    await Promise.all([
      writeFile(files.ca, pki.caCert),
      writeFile(files.servingCert, pki.servingCert),
      writeFile(files.servingKey, pki.servingKey, { mode: 0o600 }),
      writeFile(files.saPub, pki.saPublicKey),
      writeFile(files.saKey, pki.saPrivateKey, { mode: 0o600 }),
    ])

    const [etcdPort, peerPort, apiPort] = await distinctPorts(3)
    const etcdUrl = `http://127.0.0.1:${etcdPort}`
    const peerUrl = `http://127.0.0.1:${peerPort}`
    const etcd = startProc('etcd', binaries.etcd, [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ], dir)
    procs.push(etcd)
    await waitEtcd(etcdUrl, etcd, 30_000)

    const server = `https://127.0.0.1:${apiPort}`
    const apiserver = startProc('kube-apiserver', binaries.kubeApiserver, [
      '--advertise-address=127.0.0.1',
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${files.servingCert}`,
      `--tls-private-key-file=${files.servingKey}`,
      `--etcd-servers=${etcdUrl}`,
      `--client-ca-file=${files.ca}`,
      '--authorization-mode=RBAC',
      '--disable-admission-plugins=ServiceAccount',
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${files.saPub}`,
      `--service-account-signing-key-file=${files.saKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      ...(opts.apiserverFlags ?? []),
    ], dir)
    procs.push(apiserver)
    await writeFile(files.kubeconfig, renderKubeconfig(server, pki), { mode: 0o600 })
    const kc = loadKubeConfig(files.kubeconfig)
    await waitReady(kc, procs, opts.readyTimeoutMs ?? 120_000)
    log(`kube-apiserver ready at ${server} in ${Date.now() - t0} ms (kubeconfig ${files.kubeconfig})`)
    return { server, kubeconfigPath: files.kubeconfig, dir, etcdUrl, pki, binaries, stop }
  } catch (err) {
    await stop().catch(() => undefined)
    throw err
  }
}

/** Stops a control plane (same as cp.stop()). */
export async function stopControlPlane (cp: ControlPlane): Promise<void> {
  await cp.stop()
}

/** Everything a test run needs: binaries, a ready control plane, Istio's CRDs and the Gateway API's. */
export async function startE2E (opts: StartOptions = {}): Promise<ControlPlane> {
  const t0 = Date.now()
  const cp = await startControlPlane(opts)
  try {
    const kc = loadKubeConfig(cp.kubeconfigPath)
    const [istio, gatewayApi] = await Promise.all([installIstioCrds(kc), installIstioCrds(kc, gatewayApiCrdsPath())])
    ;(opts.log ?? ((m: string) => { process.stderr.write(`[e2e] ${m}\n`) }))(
      `${istio.length} Istio CRDs and ${gatewayApi.length} Gateway API CRDs Established; control plane up in ${Date.now() - t0} ms`,
    )
    return cp
  } catch (err) {
    await cp.stop()
    throw err
  }
}
