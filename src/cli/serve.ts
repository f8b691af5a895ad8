// egress-mtls serve: the admission webhook (HTTPS) and its metrics/health port, until
// SIGTERM or SIGINT.
import { cliError } from '../errors.ts'
import { configPath } from '../io/config-file.ts'
import { parseListenAddress } from '../server/address.ts'
import { createLogger } from '../server/log.ts'
import { stopOnSignal } from '../server/shutdown.ts'
import { type CertificateFiles, startWebhook } from '../server/webhook.ts'
import { VERSION } from '../version.ts'
import type { Io, ServeOptions } from './options.ts'

function certificateSource (o: ServeOptions): CertificateFiles | 'self-signed' {
  if (o.selfSigned) {
    if (o.tlsCert !== undefined || o.tlsKey !== undefined) throw cliError('EMTLS_CLI_SELF_SIGNED_EXCLUSIVE')
    return 'self-signed'
  }
  if (o.tlsCert === undefined || o.tlsKey === undefined) throw cliError('EMTLS_CLI_SERVING_CERT_MISSING')
  return { certFile: o.tlsCert, keyFile: o.tlsKey }
}

export async function run (options: ServeOptions, io: Io): Promise<number> {
  const tls = certificateSource(options)
  const listen = parseListenAddress(options.listen, '--listen')
  const metricsListen = parseListenAddress(options.metricsListen, '--metrics-listen')
  const limits = { maxConnections: options.maxConnections, maxConnectionsPerSource: options.maxConnectionsPerSource }
  if (options.release !== undefined) throw cliError('EMTLS_CLI_SERVE_RELEASE')
  const configFile = configPath(options.config, io.env)
  const log = createLogger(options.logLevel, options.logFormat, io.stdout)
  log.info({ version: VERSION, node: process.version }, 'egress-mtls serve starting')
  const webhook = await startWebhook({ listen, metricsListen, configFile, tls, log, limits, shutdownDelayMs: options.shutdownDelay })
  await stopOnSignal(() => webhook.close(), () => { webhook.abort() }, log)
  return 0
}
