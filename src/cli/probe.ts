// `egress-mtls probe TARGET [-n NS] [--cert F --key F --cacert F] [--connect-to HOST:PORT]`:
// one real mutual-TLS connection to the target with its Secret's material (or files),
// judged as the sidecar would judge it. Exit 0 only if the sidecar would succeed.
import { about, type Finding } from '../core/base/findings.ts'
import type { Config, Target } from '../core/config/config.ts'
import { checkMaterial, checkSecret, type Material } from '../core/tls/client-material.ts'
import { judgeProbe, probeDetails, probePlan, probeRequest, withMaterial } from '../core/tls/probe.ts'
import { keyMatches, parseBundle, parseKey } from '../core/tls/x509.ts'
import { cliError } from '../errors.ts'
import { readMaterialFiles } from '../io/material-files.ts'
import { probeConnection } from '../io/tls-probe.ts'
import { parseListenAddress } from '../server/address.ts'
import { VERSION } from '../version.ts'
import { loadConfiguration } from './configuration.ts'
import type { Io, ProbeOptions } from './options.ts'
import { writeReport } from './report.ts'

export async function run (options: ProbeOptions, io: Io): Promise<number> {
  const files = [options.cert, options.key, options.cacert]
  if (files.some((f) => f !== undefined) && files.some((f) => f === undefined)) throw cliError('EMTLS_CLI_PROBE_FILES_TOGETHER')
  const connectTo = options.connectTo === undefined ? undefined : parseConnectTo(options.connectTo)
  const config = await loadConfiguration(options, io)
  const target = findTarget(config, options.target)
  const now = new Date()

  let material: Material
  let checks: Finding[]
  if (options.cert !== undefined && options.key !== undefined && options.cacert !== undefined) {
    material = await readMaterialFiles({ cert: options.cert, key: options.key, cacert: options.cacert })
    checks = checkMaterial('files', { cert: options.cert, key: options.key, cacert: options.cacert }, material, now)
  } else {
    const namespace = target.origination === 'sidecar' ? options.namespace ?? onlyNamespace(target) : proxyNamespace(config, target, options.namespace)
    const [{ loadKubeConfig }, { apiFailure }] = await Promise.all([import('../kube/client.ts'), import('../kube/api-failure.ts')])
    const { readSecretData } = await import('../kube/secrets.ts')
    const kc = loadKubeConfig(options.kubeconfig, options.context) // a bad kubeconfig is bad usage, not a finding
    let data: Record<string, string> | undefined
    try {
      data = await readSecretData(kc, namespace, target.secretName, Date.now() + options.timeout * 1000)
    } catch (err) {
      const f = apiFailure(err)
      const cannot = about(`Secret ${namespace}/${target.secretName} (target ${target.name})`).fail(`cannot read: ${f.reason === undefined ? '' : `${f.reason}: `}${f.message}`)
      return writeReport(io, 'probe', options.output, [cannot], { target: target.name })
    }
    checks = checkSecret(target, namespace, data, now)
    if (data === undefined || checks[0]?.level === 'fail') return writeReport(io, 'probe', options.output, checks, { target: target.name })
    const k = target.secretKeys
    material = { cert: data[k.cert] ?? '', key: data[k.key] ?? '', cacert: data[k.cacert] ?? '' }
  }

  const plan = probePlan(target, connectTo)
  // Only the material's problems are repeated here (doctor lists every check).
  const problems = checks.filter((f) => f.level !== 'ok')
  if (!usable(material)) return writeReport(io, 'probe', options.output, problems.length > 0 ? problems : [about(target.name).fail('the client material cannot be used')], { target: target.name })
  const seen = await probeConnection({
    host: connectTo?.host ?? target.host,
    port: connectTo?.port ?? target.port,
    servername: target.sni,
    cert: material.cert,
    key: material.key,
    ca: material.cacert,
    serverNames: plan.serverNames,
    request: probeRequest(plan, `egress-mtls-probe/${VERSION}`),
    timeoutMs: options.timeout * 1000,
  })
  return writeReport(io, 'probe', options.output, withMaterial(checks, judgeProbe(plan, seen, now)), probeDetails(plan, seen, now))
}

/** OpenSSL can load it: a certificate, its key, at least one CA. */
function usable (m: Material): boolean {
  const leaf = parseBundle(m.cert).certs[0]
  const key = parseKey(m.key)
  return leaf !== undefined && key !== undefined && keyMatches(leaf, key) && parseBundle(m.cacert).certs.length > 0
}

function findTarget (config: Config, name: string): Target {
  const target = config.targets.find((t) => t.name === name)
  if (target === undefined) throw cliError('EMTLS_CLI_TARGET_UNKNOWN', name, config.targets.map((t) => t.name))
  return target
}

/** A target at the egress gateway or the waypoint: its Secret is in that namespace only. */
function proxyNamespace (config: Config, target: Target, namespace: string | undefined): string {
  const waypoint = target.origination === 'waypoint'
  const home = waypoint ? config.waypoint.namespace : config.egressGateway.namespace
  if (namespace !== undefined && namespace !== home) {
    throw cliError('EMTLS_CLI_TARGET_GATEWAY_NAMESPACE', target.name, waypoint ? 'waypoint' : 'egress gateway', home, namespace)
  }
  return home
}

/** Where the target's Secret is when -n is not given: its one namespace. */
function onlyNamespace (target: Target): string {
  const [only, ...more] = target.namespaces
  if (only === undefined || only === '*' || more.length > 0) throw cliError('EMTLS_CLI_TARGET_NAMESPACE_NEEDED', target.name, target.namespaces)
  return only
}

function parseConnectTo (value: string): { host: string, port: number } {
  const address = parseListenAddress(value, '--connect-to')
  if (address.host === undefined || address.port === 0) throw cliError('EMTLS_CLI_CONNECT_TO_INVALID', value)
  return { host: address.host, port: address.port }
}
