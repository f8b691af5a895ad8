// The running webhook: the HTTPS app, the metrics port, and the files they depend on
// (configuration, serving certificate) reloaded when they change.
import { setTimeout as sleep } from 'node:timers/promises'

import type { Logger } from 'pino'

import { loadConfigFile } from '../io/config-file.ts'
import type { WatchOptions } from '../io/watch.ts'
import { listen, type ListenAddress } from './address.ts'
import { type App, createApp, DEFAULT_LIMITS, type Limits } from './app.ts'
import { trackConnections } from './drain.ts'
import { createMetrics } from './metrics.ts'
import { createMetricsPortServer } from './metrics-port.ts'
import { reloadable } from './reloadable.ts'
import { readServingCertificate, secureContextOptions, selfSignedCertificate } from './tls.ts'

export interface CertificateFiles {
  readonly certFile: string
  readonly keyFile: string
}

export interface WebhookOptions {
  readonly listen: ListenAddress
  readonly metricsListen: ListenAddress
  readonly configFile: string
  /** Files reloaded when they change, or an in-memory certificate for local use. */
  readonly tls: CertificateFiles | 'self-signed'
  readonly log: Logger
  readonly watch?: WatchOptions
  /** Connection bounds of the webhook port (default DEFAULT_LIMITS); any field may be given alone. */
  readonly limits?: Partial<Limits>
  /**
   * How long close() keeps serving before it stops accepting (default 0): unready, every
   * answer with `Connection: close`, no connection cut. Behind a Service, this is the time
   * the endpoint's removal takes to reach kube-apiserver, whose pooled keep-alive connections
   * each end with an answer instead of being cut while it may be sending on them.
   */
  readonly shutdownDelayMs?: number
}

export interface Webhook {
  readonly port: number
  readonly metricsPort: number
  /**
   * Graceful stop: not ready at once; after the shutdown delay (if any), no new connections,
   * idle keep-alive connections closed, in-flight reviews answered (with `Connection:
   * close`); connections still open `graceMs` later are cut. Resolves when both ports are
   * closed.
   */
  close: (graceMs?: number) => Promise<void>
  /** Ends the shutdown delay and cuts every connection now (a second signal while closing). */
  abort: () => void
}

const message = (err: unknown): string => err instanceof Error ? err.message : String(err)

export async function startWebhook (options: WebhookOptions): Promise<Webhook> {
  const { log } = options
  const metrics = createMetrics()
  const reloadables: { close: () => void }[] = []
  const watchError = (err: unknown): void => { log.warn({ error: message(err) }, 'file watch failed; polling only') }
  let app: App | undefined
  let closing = false
  let listening = false

  // Not ready while the port is at its connection cap: a new connection would be refused.
  const side = createMetricsPortServer({ registry: metrics.registry, ready: () => listening && !closing && app?.saturated() !== true, log })
  try {
    const { configFile, tls } = options
    const config = await reloadable({
      files: [configFile],
      load: () => loadConfigFile(configFile),
      loaded: (c, reloaded) => {
        metrics.configLoad('success', reloaded)
        if (reloaded) log.info({ file: configFile, targets: c.targets.map((t) => t.name) }, 'configuration reloaded')
      },
      failed: (err) => {
        metrics.configLoad('failure', true)
        log.error({ file: configFile, error: message(err) }, 'configuration reload failed; keeping the last good configuration')
      },
      watchError,
      watch: options.watch,
    })
    reloadables.push(config)

    const certificate = await reloadable({
      files: tls === 'self-signed' ? [] : [tls.certFile, tls.keyFile],
      load: () => tls === 'self-signed' ? selfSignedCertificate() : readServingCertificate(tls.certFile, tls.keyFile),
      same: (next, current) => next.cert === current.cert && next.key === current.key,
      loaded: (c, reloaded) => {
        if (reloaded) app?.server.setSecureContext(secureContextOptions(c))
        metrics.servingCertificateExpiry(c.notAfter)
        log.info({ notAfter: c.notAfter.toISOString(), sha256: c.fingerprint256 }, reloaded ? 'serving certificate reloaded' : 'serving certificate loaded')
      },
      failed: (err) => { log.error({ error: message(err) }, 'serving certificate reload failed; keeping the current one') },
      watchError,
      watch: options.watch,
    })
    reloadables.push(certificate)

    const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits }
    app = createApp({ certificate: certificate.current(), config: config.current, metrics, log, draining: () => closing, limits })
    const drain = trackConnections(app.server)
    metrics.countInFlight(drain.inFlight)
    await app.ready()
    const port = await listen(app.server, options.listen, '--listen')
    const metricsPort = await listen(side, options.metricsListen, '--metrics-listen')
    listening = true
    // The bounds in force (the HTTP ones as the server holds them).
    const { server } = app
    log.info({
      https: port,
      metrics: metricsPort,
      maxConnections: server.maxConnections,
      maxConnectionsPerSource: limits.maxConnectionsPerSource,
      bodyBudgetBytes: limits.bodyBudgetBytes,
      bodyTimeoutMs: limits.bodyTimeoutMs,
      handshakeTimeoutMs: limits.handshakeTimeoutMs,
      headersTimeoutMs: server.headersTimeout,
      requestTimeoutMs: server.requestTimeout,
      keepAliveTimeoutMs: server.keepAliveTimeout,
    }, 'listening')

    const running = app
    const delayMs = options.shutdownDelayMs ?? 0
    const delayOver = new AbortController()
    return {
      port,
      metricsPort,
      async close (graceMs = 25_000) {
        closing = true
        if (delayMs > 0) {
          // Still accepting: a connection opened by a client whose view of the endpoints is
          // not yet updated gets its review answered, and its connection ended.
          log.info({ delayMs }, 'shutting down: unready, serving on for the shutdown delay, each answer ending its connection')
          await sleep(delayMs, undefined, { signal: delayOver.signal }).catch(() => undefined)
        }
        log.info({ graceMs }, 'shutting down: finishing in-flight reviews')
        // No review can come from a connection still in its TLS handshake.
        drain.closeHandshaking()
        const force = setTimeout(() => {
          log.warn('grace period over: closing the connections still open')
          drain.closeAll()
        }, graceMs)
        force.unref()
        // Connections that go idle while draining (an answer with Connection: close ends its
        // own) are closed by this sweep once idle for the grace; see drain.ts.
        // The sweep also catches handshakes begun before the listener actually closed.
        const sweep = setInterval(() => { drain.closeIdle(); drain.closeHandshaking() }, 50)
        sweep.unref()
        await running.close()
        clearTimeout(force)
        clearInterval(sweep)
        for (const r of reloadables) r.close()
        await closeMetricsPort(side)
        log.info('stopped')
      },
      abort () {
        delayOver.abort()
        drain.closeAll()
      },
    }
  } catch (err) {
    for (const r of reloadables) r.close()
    await app?.close()
    await closeMetricsPort(side)
    throw err
  }
}

async function closeMetricsPort (side: ReturnType<typeof createMetricsPortServer>): Promise<void> {
  if (!side.listening) return
  const closed = new Promise<void>((resolve) => side.close(() => { resolve() }))
  side.closeAllConnections()
  await closed
}
