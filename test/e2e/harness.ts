// End-to-end harness: a real kube-apiserver + etcd on loopback, with Istio's CRDs.
//
// The binaries come from scripts/build-e2e-binaries.sh (built from the Kubernetes
// Go modules and cached under ~/.cache/egress-mtls, or envtest's binaries through
// KUBEBUILDER_ASSETS). The control plane is started the way controller-runtime's
// envtest starts it: a client CA whose `system:masters` client certificate is the
// admin, RBAC, service-account issuer and signing key, and no ServiceAccount
// admission plugin (there is no controller-manager to create tokens).
//
// Test files normally do not start a control plane themselves: test/e2e/global-setup.ts
// starts one per test run and sets EGRESS_MTLS_E2E_KUBECONFIG; a test calls
// loadKubeConfig() and freshNamespace(). See test/e2e/README.md.
//
// Run directly (`npx node test/e2e/harness.ts`) to start a control plane for manual
// work; it prints the kubeconfig path and runs until Ctrl-C.

import { type ChildProcess, spawn } from 'node:child_process'
import { generateKeyPair, randomBytes } from 'node:crypto'
import { createWriteStream, existsSync, readFileSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request as httpsRequest, type RequestOptions } from 'node:https'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import { CoreV1Api, KubeConfig, V1Namespace, V1ObjectMeta } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'

import { issue, testAuthority } from '../support/pki.ts'

/** Environment variable holding the kubeconfig path of the run's control plane. */
export const KUBECONFIG_ENV = 'EGRESS_MTLS_E2E_KUBECONFIG'
/** Environment variable holding the helm binary built for the run. */
export const HELM_ENV = 'EGRESS_MTLS_E2E_HELM'

/** The repository root (test/e2e/../..). */
export const repoRoot: string = fileURLToPath(new URL('../../', import.meta.url))

/** Istio CRDs used by the tier: $ISTIO_CRDS, else the repository's test/fixtures/istio/crds-1.30.3.yaml. */
export function istioCrdsPath (): string {
  const fromEnv = process.env['ISTIO_CRDS']
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv)
  return resolve(repoRoot, 'test', 'fixtures', 'istio', 'crds-1.30.3.yaml')
}

export interface E2EBinaries {
  kubeApiserver: string
  etcd: string
  /** Absent only when built with E2E_SKIP_HELM=1. */
  helm?: string
}

export interface EnsureBinariesOptions {
  /** Also build helm (default true). */
  helm?: boolean
}

/**
 * Runs scripts/build-e2e-binaries.sh (progress goes to this process's stderr) and
 * returns the absolute paths it printed. A warm run takes well under a second.
 */
export async function ensureBinaries (opts: EnsureBinariesOptions = {}): Promise<E2EBinaries> {
  const script = join(repoRoot, 'scripts', 'build-e2e-binaries.sh')
  const env: NodeJS.ProcessEnv = { ...process.env }
  if (opts.helm === false) env['E2E_SKIP_HELM'] = '1'
  const child = spawn('bash', [script], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => { out += chunk })
  const code = await new Promise<number | null>((res, rej) => {
    child.on('error', rej)
    child.on('close', res)
  })
  if (code !== 0) {
    throw new Error(`scripts/build-e2e-binaries.sh failed (exit ${String(code)}); see its messages above`)
  }
  const vars = new Map<string, string>()
  for (const line of out.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line)
    if (m?.[1] !== undefined && m[2] !== undefined) vars.set(m[1], m[2])
  }
  const kubeApiserver = vars.get('KUBE_APISERVER')
  const etcd = vars.get('ETCD')
  if (kubeApiserver === undefined || etcd === undefined) {
    throw new Error(`scripts/build-e2e-binaries.sh printed no KUBE_APISERVER/ETCD paths:\n${out}`)
  }
  const helm = vars.get('HELM')
  return helm === undefined ? { kubeApiserver, etcd } : { kubeApiserver, etcd, helm }
}

/** A free TCP port on 127.0.0.1 (bound and released; a tiny race is accepted). */
export async function freePort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>((res, rej) => {
    srv.once('error', rej)
    srv.listen(0, '127.0.0.1', res)
  })
  const addr = srv.address()
  await new Promise<void>((res) => srv.close(() => { res() }))
  if (addr === null || typeof addr === 'string') throw new Error('cannot allocate a port')
  return addr.port
}

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

interface Proc {
  name: string
  child: ChildProcess
  logPath: string
  exited: Promise<number | null>
  exitCode: number | null | undefined
}

const liveProcs = new Set<Proc>()
const liveDirs = new Set<string>()
let exitHookInstalled = false

/**
 * Synchronous last resort (process exit, signals): SIGKILL every etcd and
 * kube-apiserver this process started and remove their temporary directories.
 */
export function emergencyCleanup (): void {
  for (const p of liveProcs) {
    try { p.child.kill('SIGKILL') } catch { /* already gone */ }
  }
  liveProcs.clear()
  for (const d of liveDirs) {
    try { rmSync(d, { recursive: true, force: true }) } catch { /* best effort */ }
  }
  liveDirs.clear()
}

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', emergencyCleanup)
}

function startProc (name: string, bin: string, args: string[], dir: string): Proc {
  const logPath = join(dir, `${name}.log`)
  const out = createWriteStream(logPath)
  const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.pipe(out, { end: false })
  child.stderr.pipe(out, { end: false })
  const proc: Proc = {
    name,
    child,
    logPath,
    exitCode: undefined,
    exited: new Promise((res) => {
      child.on('error', (err) => {
        out.write(`spawn error: ${err.message}\n`)
        proc.exitCode = -1
        liveProcs.delete(proc)
        res(-1)
      })
      child.on('exit', (code, signal) => {
        proc.exitCode = code
        liveProcs.delete(proc)
        out.write(`\n[harness] ${name} exited: code=${String(code)} signal=${String(signal)}\n`)
        res(code)
      })
    }),
  }
  child.on('close', () => { out.end() })
  liveProcs.add(proc)
  installExitHook()
  return proc
}

async function stopProc (p: Proc, graceMs: number): Promise<void> {
  if (p.exitCode !== undefined) return
  p.child.kill('SIGTERM')
  const ac = new AbortController()
  const timer = sleep(graceMs, 'timeout' as const, { signal: ac.signal }).catch(() => 'aborted' as const)
  const first = await Promise.race([p.exited.then(() => 'exited' as const), timer])
  ac.abort() // never keep the event loop alive for the grace period
  if (first === 'timeout') {
    p.child.kill('SIGKILL')
    await p.exited
  }
}

function tail (path: string, lines = 40): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

export interface HttpResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

export interface KubeRequest {
  method?: string
  /** Path with query, e.g. '/apis/apps/v1/namespaces/x/deployments?dryRun=All'. */
  path: string
  /** Object (sent as JSON) or string. */
  body?: unknown
  /** Default application/json; use 'application/apply-patch+yaml' for server-side apply. */
  contentType?: string
  headers?: Record<string, string>
  timeoutMs?: number
}

/**
 * A raw request to the API server of `kc` (client certificate auth), returning
 * status, headers (e.g. `warning`) and body without throwing on HTTP errors.
 */
export async function kubeRequest (kc: KubeConfig, req: KubeRequest): Promise<HttpResult> {
  const cluster = kc.getCurrentCluster()
  if (cluster === null) throw new Error('kubeconfig has no current cluster')
  const url = new URL(req.path, cluster.server)
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers }
  let payload: string | undefined
  if (req.body !== undefined) {
    payload = typeof req.body === 'string' ? req.body : JSON.stringify(req.body)
    headers['content-type'] = req.contentType ?? 'application/json'
  }
  const opts: RequestOptions = {
    method: req.method ?? 'GET',
    hostname: url.hostname,
    port: url.port,
    path: url.pathname + url.search,
    headers,
    timeout: req.timeoutMs ?? 30_000,
  }
  await kc.applyToHTTPSOptions(opts)
  return await new Promise<HttpResult>((res, rej) => {
    const r = httpsRequest(opts, (resp) => {
      let body = ''
      resp.setEncoding('utf8')
      resp.on('data', (c: string) => { body += c })
      resp.on('end', () => { res({ status: resp.statusCode ?? 0, headers: resp.headers, body }) })
      resp.on('error', rej)
    })
    r.on('timeout', () => { r.destroy(new Error(`${opts.method ?? 'GET'} ${req.path}: timeout`)) })
    r.on('error', rej)
    r.end(payload)
  })
}

/**
 * A kubeconfig file (in `dir`) that authenticates as ServiceAccount `sa` of `namespace` with a
 * token from the TokenRequest API: the API server judges its requests as the pod's would be.
 */
export async function serviceAccountKubeconfig (kc: KubeConfig, namespace: string, sa: string, dir: string, expirationSeconds = 900): Promise<string> {
  const cluster = kc.getCurrentCluster()
  if (cluster === null) throw new Error('kubeconfig has no current cluster')
  const tr = (await kubeJson(kc, {
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds } },
  })) as { status: { token: string } }
  const file = join(dir, `${sa}.kubeconfig`)
  await writeFile(file, JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
    users: [{ name: sa, user: { token: tr.status.token } }],
    contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: sa, namespace } }],
    'current-context': 'e2e',
  }), { mode: 0o600 })
  return file
}

/** kubeRequest that throws unless the status is 2xx, returning the parsed JSON body. */
export async function kubeJson (kc: KubeConfig, req: KubeRequest): Promise<unknown> {
  const r = await kubeRequest(kc, req)
  if (r.status < 200 || r.status > 299) {
    throw new Error(`${req.method ?? 'GET'} ${req.path}: HTTP ${r.status}: ${r.body}`)
  }
  return r.body === '' ? undefined : JSON.parse(r.body)
}

/** Loads a kubeconfig: `path`, else $EGRESS_MTLS_E2E_KUBECONFIG (set by global-setup.ts). */
export function loadKubeConfig (path?: string): KubeConfig {
  const file = path ?? process.env[KUBECONFIG_ENV]
  if (file === undefined || file === '') {
    throw new Error(
      `${KUBECONFIG_ENV} is not set: run e2e tests with ` +
        '`node --test --test-global-setup=test/e2e/global-setup.ts ...` (npm test does), ' +
        'or start a control plane with `npx node test/e2e/harness.ts` and export the variable it prints',
    )
  }
  const kc = new KubeConfig()
  kc.loadFromFile(file)
  return kc
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
  if (!keep) liveDirs.add(dir)
  const procs: Proc[] = []
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    // kube-apiserver first (it needs etcd to shut down cleanly), then etcd.
    for (const p of [...procs].reverse()) await stopProc(p, 10_000)
    if (keep) log(`kept ${dir}`)
    else await rm(dir, { recursive: true, force: true })
    liveDirs.delete(dir)
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

async function distinctPorts (n: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < n) ports.add(await freePort())
  return [...ports]
}

/** Stops a control plane (same as cp.stop()). */
export async function stopControlPlane (cp: ControlPlane): Promise<void> {
  await cp.stop()
}

interface CrdDoc {
  kind?: unknown
  metadata?: { name?: unknown }
  status?: unknown
}

interface CrdStatus {
  metadata?: { name?: string }
  status?: { conditions?: { type?: string; status?: string; message?: string }[] }
}

/**
 * Server-side-applies every CustomResourceDefinition of `file` (default
 * istioCrdsPath()) and waits until all are Established. Returns their names.
 */
export async function installIstioCrds (kc: KubeConfig, file: string = istioCrdsPath(), timeoutMs = 60_000): Promise<string[]> {
  if (!existsSync(file)) {
    throw new Error(`Istio CRDs not found at ${file}: set ISTIO_CRDS to a file of Istio's CRDs`)
  }
  const docs = parseAllDocuments(await readFile(file, 'utf8'))
  const crds: CrdDoc[] = []
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`)
    const obj = d.toJS() as CrdDoc | null
    if (obj?.kind === 'CustomResourceDefinition') crds.push(obj)
  }
  const names: string[] = []
  await Promise.all(crds.map(async (crd) => {
    const name = crd.metadata?.name
    if (typeof name !== 'string') throw new Error(`${file}: a CRD without metadata.name`)
    names.push(name)
    delete crd.status
    await kubeJson(kc, {
      method: 'PATCH',
      path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=egress-mtls-e2e&force=true`,
      body: crd,
      contentType: 'application/apply-patch+yaml',
      timeoutMs: 60_000,
    })
  }))
  await waitCrdsEstablished(kc, names, timeoutMs)
  return names.sort()
}

/** Waits until every named CRD has condition Established=True (and NamesAccepted). */
export async function waitCrdsEstablished (kc: KubeConfig, names: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const want = new Set(names)
  let pending: string[] = [...want]
  while (pending.length > 0) {
    const list = (await kubeJson(kc, { path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions' })) as { items?: CrdStatus[] }
    const ok = new Set<string>()
    for (const item of list.items ?? []) {
      const established = item.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false
      if (established && item.metadata?.name !== undefined) ok.add(item.metadata.name)
    }
    pending = [...want].filter((n) => !ok.has(n))
    if (pending.length === 0) break
    if (Date.now() > deadline) throw new Error(`CRDs not Established after ${timeoutMs} ms: ${pending.join(', ')}`)
    await sleep(200)
  }
  // Discovery of the new groups can lag Established by a moment; wait for it too.
  const groups = new Set(names.map((n) => n.slice(n.indexOf('.') + 1)))
  for (const g of groups) {
    for (;;) {
      const r = await kubeRequest(kc, { path: `/apis/${g}` })
      if (r.status === 200) break
      if (Date.now() > deadline) throw new Error(`API group ${g} not served after ${timeoutMs} ms`)
      await sleep(200)
    }
  }
}

export interface FreshNamespace {
  name: string
  /** Deletes the namespace (no waiting: with no controller-manager it stays Terminating). */
  cleanup: () => Promise<void>
}

/**
 * Creates a uniquely named namespace `<prefix>-<random>` (prefix trimmed to fit
 * DNS-1123) with optional labels. `kc` is a KubeConfig or a kubeconfig path.
 */
export async function freshNamespace (kc: KubeConfig | string, prefix: string, labels: Record<string, string> = {}): Promise<FreshNamespace> {
  const config = typeof kc === 'string' ? loadKubeConfig(kc) : kc
  const api = config.makeApiClient(CoreV1Api)
  const clean = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'e2e'
  const name = `${clean}-${randomBytes(4).toString('hex')}`
  const body = new V1Namespace()
  body.metadata = new V1ObjectMeta()
  body.metadata.name = name
  body.metadata.labels = { 'egress-mtls.io/e2e': 'true', ...labels }
  await api.createNamespace({ body })
  return {
    name,
    cleanup: async () => {
      try {
        await api.deleteNamespace({ name })
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err
      }
    },
  }
}

/** Everything a test run needs: binaries, a ready control plane and Istio's CRDs. */
export async function startE2E (opts: StartOptions = {}): Promise<ControlPlane> {
  const t0 = Date.now()
  const cp = await startControlPlane(opts)
  try {
    const names = await installIstioCrds(loadKubeConfig(cp.kubeconfigPath))
    ;(opts.log ?? ((m: string) => { process.stderr.write(`[e2e] ${m}\n`) }))(
      `${names.length} Istio CRDs Established; control plane up in ${Date.now() - t0} ms`,
    )
    return cp
  } catch (err) {
    await cp.stop()
    throw err
  }
}

// `npx node test/e2e/harness.ts`: a control plane for manual work, until Ctrl-C.
if (import.meta.main) {
  const cp = await startE2E()
  process.stdout.write(
    `export ${KUBECONFIG_ENV}=${cp.kubeconfigPath}\n` +
      (cp.binaries.helm === undefined ? '' : `export ${HELM_ENV}=${cp.binaries.helm}\n`) +
      `# kubectl --kubeconfig ${cp.kubeconfigPath} get crds\n# Ctrl-C stops it.\n`,
  )
  const done = async (): Promise<void> => {
    await cp.stop()
    process.exit(0)
  }
  process.once('SIGINT', () => { void done() })
  process.once('SIGTERM', () => { void done() })
}
