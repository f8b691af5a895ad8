// egress-mtls monitor: watches the targets' Secrets where they live and exports their
// certificates' validity and problems on a metrics port, until SIGTERM or SIGINT.
import type { Change, Row } from '../core/tls/secret-reading.ts'
import { absentAfterList, secretChanges, watchScopes } from '../core/tls/secret-reading.ts'
import { configPath, loadConfigFile } from '../io/config-file.ts'
import { loadKubeConfig } from '../kube/client.ts'
import { gate, secretSource, watchSecrets } from '../kube/secret-watch.ts'
import { listen, parseListenAddress } from '../server/address.ts'
import { createLogger } from '../server/log.ts'
import { createMetricsPortServer } from '../server/metrics-port.ts'
import { createMonitorMetrics } from '../server/monitor-metrics.ts'
import { stopOnSignal } from '../server/shutdown.ts'
import { VERSION } from '../version.ts'
import type { Io, MonitorOptions } from './options.ts'

/** Lists running at once (at start, and after failures). */
const LIST_CONCURRENCY = 8

const iso = (seconds: number | undefined): string | undefined => seconds === undefined ? undefined : new Date(seconds * 1000).toISOString()

export async function run (options: MonitorOptions, io: Io): Promise<number> {
  const metricsListen = parseListenAddress(options.metricsListen, '--metrics-listen')
  const log = createLogger(options.logLevel, options.logFormat, io.stdout)
  const config = await loadConfigFile(configPath(options.config, io.env))
  const kc = loadKubeConfig(options.kubeconfig, options.context)
  log.info({ version: VERSION, node: process.version }, 'egress-mtls monitor starting')

  const rows = new Map<string, Row>()
  const apply = (changes: readonly Change[]): void => {
    for (const [key, row] of changes) {
      const before = rows.get(key)
      if (row === undefined) rows.delete(key)
      else rows.set(key, row)
      if (JSON.stringify(before?.reading) === JSON.stringify(row?.reading)) continue
      const [namespace, target] = key.split('/')
      log.info({ namespace, target, secret: row?.secret ?? before?.secret, notAfter: iso(row?.reading.notAfter), caNotAfter: iso(row?.reading.caNotAfter), problems: row?.reading.problems }, row === undefined ? 'Secret gone' : 'Secret read')
    }
  }
  const scopes = watchScopes(config)
  // Every list and watch is a stream on a few shared connections; a few lists at a time, so
  // that thousands of watches starting together leave the event loop free for /healthz.
  const source = secretSource(kc, log)
  const lists = gate(LIST_CONCURRENCY)
  const watches = scopes.map((scope) => watchSecrets(source, scope, {
    onSecret: (namespace, name, data) => { apply(secretChanges(config, namespace, name, data)) },
    onList: (present) => {
      for (const namespace of absentAfterList(config, scope, present, rows.values())) {
        apply(secretChanges(config, namespace, scope.secretName, undefined))
      }
    },
  }, log, lists))
  let ready = false
  void Promise.all(watches.map((w) => w.synced)).then(() => {
    ready = true
    log.info({ watches: scopes.length, secrets: rows.size }, 'every watch listed: ready')
  })

  const { registry } = createMonitorMetrics(() => rows.values())
  const server = createMetricsPortServer({ registry, ready: () => ready, log })
  const port = await listen(server, metricsListen, '--metrics-listen')
  log.info({ metricsPort: port, watches: scopes.length }, 'egress-mtls monitor listening')
  await stopOnSignal(async () => {
    for (const w of watches) w.stop()
    source.close()
    await new Promise<void>((resolve) => { server.close(() => { resolve() }); server.closeIdleConnections() })
  }, () => { server.closeAllConnections() }, log)
  return 0
}
