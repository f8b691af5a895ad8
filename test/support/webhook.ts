// The real webhook in the test's own process (integration and end-to-end tests): started on
// port 0 with kubelet-style volumes, its captured logs, HTTPS requests and scraped metrics.
import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { type Agent, request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { connect } from 'node:tls'

import { pino } from 'pino'

import { startWebhook, type Webhook, type WebhookOptions } from '../../src/server/webhook.ts'
import { projectVolume, tempDir } from './kubelet-volume.ts'
import { type Authority, type KeyPair, type KeyType, loopbackServer, testAuthority } from './pki.ts'

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
  readonly ca: Authority
  readonly leaf: KeyPair
  /** Directory of the certificate volume (tls.crt, tls.key) and of the config volume (config.yaml). */
  readonly tlsDir: string
  readonly configDir: string
  readonly configFile: string
}

/** The real webhook in this process, on 127.0.0.1 port 0, certificate and config in kubelet-style volumes. */
export async function startTestWebhook (options: { config?: string, watch?: WebhookOptions['watch'], limits?: WebhookOptions['limits'], keyType?: KeyType } = {}): Promise<TestWebhook> {
  const ca = await testAuthority('egress-mtls test CA', { keyType: options.keyType ?? 'ec' })
  const leaf = await loopbackServer(ca, 30)
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
