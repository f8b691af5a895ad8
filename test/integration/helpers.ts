// Shared helpers of the webhook integration tests: certificates, Secret/ConfigMap volumes
// written the way kubelet writes them, HTTPS requests, captured logs, scraped metrics.
import { randomUUID, X509Certificate } from 'node:crypto'
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { type IncomingHttpHeaders, request as httpRequest } from 'node:http'
import { type Agent, request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'

import { pino } from 'pino'
import { generate } from 'selfsigned'

import { startWebhook, type Webhook, type WebhookOptions } from '../../src/server/webhook.ts'

export interface KeyPair {
  readonly cert: string
  readonly key: string
}

/** EC P-256 as `egress-mtls certs` makes them; RSA as many other issuers (cert-manager's default). */
export type KeyType = 'ec' | 'rsa'
const keyOptions = (keyType: KeyType) => keyType === 'ec' ? { keyType, curve: 'P-256' } as const : { keyType, keySize: 2048 } as const

/** A CA as `egress-mtls certs` makes one: EC P-256, SHA-256 (or RSA 2048). */
export async function makeCa (keyType: KeyType = 'ec'): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: 'egress-mtls test CA' }], {
    ...keyOptions(keyType), algorithm: 'sha256',
    extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }],
  })
  return { cert: pems.cert, key: pems.private }
}

/** A serving certificate for 127.0.0.1 and localhost signed by `ca` (of the same key type), valid `days` days. */
export async function makeLeaf (ca: KeyPair, days: number, keyType: KeyType = 'ec'): Promise<KeyPair> {
  const notBeforeDate = new Date(Date.now() - 60_000)
  const pems = await generate([{ name: 'commonName', value: 'egress-mtls' }], {
    ...keyOptions(keyType), algorithm: 'sha256', ca,
    notBeforeDate, notAfterDate: new Date(notBeforeDate.getTime() + days * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  })
  return { cert: pems.cert, key: pems.private }
}

export const fingerprint = (cert: string): string => new X509Certificate(cert).fingerprint256
export const notAfterSeconds = (cert: string): number => new X509Certificate(cert).validToDate.getTime() / 1000

export function tempDir (): string {
  return mkdtempSync(join(tmpdir(), 'egress-mtls-test-'))
}

/**
 * Writes `files` into `dir` as kubelet's atomic writer updates a Secret or ConfigMap volume:
 * a new timestamped directory, a `..data_tmp` symlink renamed onto `..data`, and the
 * user-visible names as symlinks through `..data`; the previous directory is removed.
 */
export function projectVolume (dir: string, files: Readonly<Record<string, string | Buffer>>): void {
  mkdirSync(dir, { recursive: true })
  const previous = readdirSync(dir).filter((n) => n.startsWith('..') && n !== '..data' && n !== '..data_tmp')
  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${randomUUID().slice(0, 8)}`
  mkdirSync(join(dir, stamp))
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, stamp, name), content, { mode: 0o600 })
  symlinkSync(stamp, join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  for (const name of Object.keys(files)) {
    try { lstatSync(join(dir, name)) } catch { symlinkSync(join('..data', name), join(dir, name)) }
  }
  for (const old of previous) rmSync(join(dir, old), { recursive: true, force: true })
}

export interface LogEntry {
  readonly level: number
  readonly msg: string
  readonly [field: string]: unknown
}

/** pino's output, parsed, with a way to wait for a line. */
export class Logs {
  readonly entries: LogEntry[] = []
  readonly #waiters = new Set<() => void>()
  readonly logger = pino({ level: 'debug' }, { write: (line: string) => { this.#add(line) } })

  #add (line: string): void {
    this.entries.push(JSON.parse(line) as LogEntry)
    for (const w of this.#waiters) w()
  }

  /** The first entry from index `from` on that matches, waiting up to `timeoutMs`. */
  async waitFor (match: (e: LogEntry) => boolean, timeoutMs = 5000, from = 0): Promise<LogEntry> {
    const found = (): LogEntry | undefined => this.entries.slice(from).find(match)
    const now = found()
    if (now !== undefined) return now
    return new Promise((resolve, reject) => {
      const waiter = (): void => {
        const e = found()
        if (e !== undefined) { cleanup(); resolve(e) }
      }
      const timer = setTimeout(() => { cleanup(); reject(new Error(`no matching log line in ${timeoutMs} ms; got:\n${this.entries.map((e) => JSON.stringify(e)).join('\n')}`)) }, timeoutMs)
      const cleanup = (): void => { clearTimeout(timer); this.#waiters.delete(waiter) }
      this.#waiters.add(waiter)
    })
  }
}

export const EXAMPLE_CONFIG = `
injection: label
targets:
  - name: bank-api
    host: api.bank.example.com
    namespaces: [payments]
`

/** Writes the configuration as kubelet updates a ConfigMap volume and waits for the webhook to load it. */
export async function reloadConfig (hook: TestWebhook, text: string, timeoutMs = 15_000): Promise<void> {
  const seen = hook.logs.entries.length
  projectVolume(hook.configDir, { 'config.yaml': text })
  const deadline = Date.now() + timeoutMs
  while (!hook.logs.entries.slice(seen).some((e) => e.msg === 'configuration reloaded')) {
    if (Date.now() > deadline) throw new Error('the webhook did not reload its configuration')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export interface TestWebhook {
  readonly webhook: Webhook
  readonly logs: Logs
  readonly ca: KeyPair
  readonly leaf: KeyPair
  /** Directory of the certificate volume (tls.crt, tls.key) and of the config volume (config.yaml). */
  readonly tlsDir: string
  readonly configDir: string
  readonly configFile: string
}

/** The real webhook in this process, on 127.0.0.1 port 0, certificate and config in kubelet-style volumes. */
export async function startTestWebhook (options: { config?: string, watch?: WebhookOptions['watch'], limits?: WebhookOptions['limits'], keyType?: KeyType } = {}): Promise<TestWebhook> {
  const ca = await makeCa(options.keyType)
  const leaf = await makeLeaf(ca, 30, options.keyType)
  const root = tempDir()
  const tlsDir = join(root, 'tls')
  const configDir = join(root, 'config')
  projectVolume(tlsDir, { 'tls.crt': leaf.cert, 'tls.key': leaf.key, 'ca.crt': ca.cert })
  projectVolume(configDir, { 'config.yaml': options.config ?? EXAMPLE_CONFIG })
  const configFile = join(configDir, 'config.yaml')
  const logs = new Logs()
  const webhook = await startWebhook({
    listen: { host: '127.0.0.1', port: 0 },
    metricsListen: { host: '127.0.0.1', port: 0 },
    configFile,
    tls: { certFile: join(tlsDir, 'tls.crt'), keyFile: join(tlsDir, 'tls.key') },
    log: logs.logger,
    ...(options.watch === undefined ? {} : { watch: options.watch }),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
  })
  return { webhook, logs, ca, leaf, tlsDir, configDir, configFile }
}

export interface Answer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
  readonly reusedSocket: boolean
}

export interface PostOptions {
  readonly ca: string
  readonly agent?: Agent | false
  /** Default application/json; null sends no Content-Type. */
  readonly contentType?: string | null
  readonly path?: string
  readonly method?: string
}

/** One HTTPS request to the webhook on 127.0.0.1 (no body when `body` is undefined). */
export function post (port: number, body: string | Buffer | undefined, options: PostOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1',
      port,
      method: options.method ?? 'POST',
      path: options.path ?? '/mutate',
      ca: options.ca,
      agent: options.agent ?? false,
      headers: options.contentType === null ? {} : { 'content-type': options.contentType ?? 'application/json' },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), reusedSocket: req.reusedSocket }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Plain GET on the metrics port. */
export function get (port: number, path: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    }).on('error', reject).end()
  })
}

/** The SHA-256 fingerprint of the certificate a NEW TLS connection to `port` is served. */
export function servedFingerprint (port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const fp = socket.getPeerCertificate().fingerprint256
      socket.destroy()
      resolve(fp)
    })
    socket.on('error', reject)
  })
}

/** The value of one sample in Prometheus text format (labels must match exactly), or undefined. */
export function sample (metrics: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')
  for (const line of metrics.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m?.[1] !== name) continue
    const have = (m[2] ?? '').split(',').filter((s) => s !== '').sort().join(',')
    if (have === want) return Number(m[3])
  }
  return undefined
}

export async function scrape (metricsPort: number): Promise<string> {
  const { status, body } = await get(metricsPort, '/metrics')
  if (status !== 200) throw new Error(`/metrics answered ${status}`)
  return body
}

/** A Deployment CREATE review as kube-apiserver sends it. */
export function deploymentReview (uid: string = randomUUID(), namespace = 'payments'): { apiVersion: string, kind: string, request: Record<string, unknown> } {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      requestKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      requestResource: { group: 'apps', version: 'v1', resource: 'deployments' },
      name: 'shop',
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
      object: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'shop', namespace, labels: { app: 'shop', 'egress-mtls.io/inject': 'true' } },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'shop' } },
          template: {
            metadata: { labels: { app: 'shop' } },
            spec: { containers: [{ name: 'shop', image: 'registry.example/shop:1.0' }] },
          },
        },
      },
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  }
}
