// The Istio tier's link to Istio's own code: builds (or finds) istio-check with
// scripts/build-istio-check.sh (cached under ${EGRESS_MTLS_CACHE:-~/.cache/egress-mtls},
// progress on stderr), runs its subcommands and returns their JSON. Also runs the
// egress-mtls CLI, whose output is what the tier feeds to Istio.
import { execFile, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

import { formatObjects } from '../../src/cli/output.ts'
import type { IstioObject } from '../../src/core/istio/render.ts'
import { cliMain as MAIN } from '../support/repo.ts'

const BUILD = fileURLToPath(new URL('../../scripts/build-istio-check.sh', import.meta.url))
const ISTIO_MODULE_DIR = fileURLToPath(new URL('../../scripts/istio', import.meta.url))

/** A cold build took 18 to 46 minutes on 2 cores shared with other builds; the first test file waits up to this long. */
export const BUILD_TIMEOUT_MS = 90 * 60 * 1000

let binary: Promise<string> | undefined

/** The path of istio-check, built on first use. */
export function istioCheckBinary (): Promise<string> {
  binary ??= new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.on('error', reject)
    child.on('close', (code) => {
      const path = /^ISTIO_CHECK=(.+)$/m.exec(out)?.[1]
      if (code === 0 && path !== undefined) resolve(path)
      else reject(new Error(`scripts/build-istio-check.sh exited ${String(code)}: ${out}`))
    })
  })
  return binary
}

interface Run { readonly code: number, readonly stdout: string, readonly stderr: string }

function run (file: string, args: readonly string[], input: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env }, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') { reject(new Error(`${file}: ${err.message}`)); return }
      resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr })
    })
    child.stdin?.end(input)
  })
}

/** Runs `istio-check <command>` on input; its JSON answer, or an error with its stderr. */
export async function istioCheck (command: 'validate' | 'inject' | 'envoy' | 'waypoint' | 'bootstrap' | 'version', input: string, env: NodeJS.ProcessEnv = {}): Promise<unknown> {
  const r = await run(await istioCheckBinary(), [command], input, env)
  if (r.code !== 0) throw new Error(`istio-check ${command} exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as unknown
}

/**
 * The Envoy bootstrap pilot-agent writes from istio-proxy's PROXY_CONFIG (istio-check
 * bootstrap), with the pinned module's bootstrap template (the one Istio's image ships),
 * found through `go list` in scripts/istio.
 */
export async function pilotAgentBootstrap (proxyConfig: string): Promise<Record<string, unknown>> {
  const dir = await run('go', ['list', '-C', ISTIO_MODULE_DIR, '-m', '-f', '{{.Dir}}', 'istio.io/istio'], '')
  if (dir.code !== 0) throw new Error(`go list -m istio.io/istio: ${dir.stderr}`)
  const template = `${dir.stdout.trim()}/tools/packaging/common/envoy_bootstrap.json`
  return await istioCheck('bootstrap', proxyConfig, { ISTIO_BOOTSTRAP_TEMPLATE: template }) as Record<string, unknown>
}

/** Runs the egress-mtls CLI from source (as `node src/cli/main.ts`). */
export function egressMtls (args: readonly string[], input = ''): Promise<Run> {
  return run(process.execPath, [MAIN, ...args], input)
}

/** Multi-document YAML, as `egress-mtls render` and `inject` print it. */
export const yamlDocuments = (objects: readonly unknown[]): string => formatObjects(objects, 'yaml')

export type { IstioObject }

// ---- istio-check's JSON ----------------------------------------------------

/** istiod's validating webhook verdict for one object. */
export interface Verdict {
  readonly kind: string
  readonly namespace: string
  readonly name: string
  readonly allowed: boolean
  readonly message?: string
  readonly warnings: readonly string[]
}

export const validate = async (yaml: string): Promise<Verdict[]> => await istioCheck('validate', yaml) as Verdict[]

/** What one proxy gets (Envoy JSON, proto field names); a gateway's listeners too. */
export interface ProxyConfig {
  readonly name: string
  readonly namespace: string
  readonly clusters: readonly EnvoyCluster[]
  readonly routes: readonly RouteConfiguration[]
  readonly listeners?: readonly EnvoyListener[]
  /** istiod's push status after this proxy's configuration (its /debug/push_status): metric → key → what it met. */
  readonly pushStatus: Readonly<Record<string, Readonly<Record<string, { readonly proxy?: string, readonly message?: string }>>>>
}

export interface EnvoyFilter { readonly name: string, readonly typed_config?: Record<string, unknown> }
export interface EnvoyListener {
  readonly name: string
  readonly address?: { readonly socket_address?: { readonly port_value?: number } }
  readonly filter_chains?: readonly {
    readonly name?: string
    readonly filter_chain_match?: { readonly server_names?: readonly string[] }
    readonly transport_socket?: { readonly typed_config?: Record<string, unknown> }
    readonly filters: readonly EnvoyFilter[]
  }[]
}

export interface EnvoyEndpoint {
  readonly address: { readonly socket_address: { readonly address: string, readonly port_value: number } }
}

export interface EnvoyCluster {
  readonly name: string
  readonly transport_socket?: { readonly name: string, readonly typed_config: UpstreamTlsContext & { readonly '@type': string } }
  readonly transport_socket_matches?: unknown[]
  readonly load_assignment?: { readonly endpoints: readonly { readonly lb_endpoints: readonly { readonly endpoint: EnvoyEndpoint }[] }[] }
  readonly typed_extension_protocol_options?: Record<string, unknown>
}

interface SdsSecretConfig { readonly name: string }
export interface UpstreamTlsContext {
  readonly sni?: string
  readonly common_tls_context: {
    readonly tls_certificate_sds_secret_configs?: readonly SdsSecretConfig[]
    readonly combined_validation_context?: {
      readonly default_validation_context: { readonly match_subject_alt_names?: readonly { readonly exact?: string }[] }
      readonly validation_context_sds_secret_config: SdsSecretConfig
    }
    readonly validation_context?: unknown
  }
}

export interface RouteConfiguration {
  readonly name: string
  readonly virtual_hosts: readonly {
    readonly name: string,
    readonly domains: readonly string[],
    readonly routes: readonly {
      readonly name?: string,
      readonly route?: { readonly cluster?: string },
      readonly direct_response?: { readonly status: number, readonly body?: { readonly inline_string?: string } },
    }[],
  }[]
}

export interface ProxyRequest {
  readonly name: string
  readonly namespace: string
  readonly labels: Record<string, string>
  /** sidecar (default) or router: a gateway. */
  readonly type?: 'sidecar' | 'router'
  readonly ip?: string
}

/** A gateway's Kubernetes Service, with one endpoint: its pod. */
export interface GatewayService {
  readonly name: string
  readonly namespace: string
  readonly selector: Record<string, string>
  readonly serviceAccount: string
  readonly podIP: string
  readonly podLabels: Record<string, string>
  readonly ports: readonly { readonly name: string, readonly port: number, readonly targetPort: number }[]
}

export const envoy = async (
  objects: readonly unknown[], proxies: readonly ProxyRequest[], rootNamespace = 'istio-system', gatewayServices: readonly GatewayService[] = [],
): Promise<ProxyConfig[]> =>
  await istioCheck('envoy', JSON.stringify({ configs: yamlDocuments(objects), rootNamespace, proxies, gatewayServices })) as ProxyConfig[]

/** What an ambient waypoint proxy gets: the services istiod binds to it (namespace/hostname), its clusters and listeners. */
export interface WaypointConfig {
  readonly name: string
  readonly namespace: string
  readonly services: readonly string[]
  readonly clusters: readonly EnvoyCluster[]
  readonly listeners: readonly EnvoyListener[]
  readonly pushStatus: ProxyConfig['pushStatus']
}

/**
 * Istio's configuration of the waypoint of every Gateway of class istio-waypoint among
 * `objects`, each deployed as istiod and Kubernetes would (see scripts/istio/waypoint.go);
 * istiod's ambient profile's PILOT_ENABLE_AMBIENT=true.
 */
export const waypoint = async (objects: readonly unknown[]): Promise<WaypointConfig[]> =>
  await istioCheck('waypoint', JSON.stringify({ configs: yamlDocuments(objects) }), { PILOT_ENABLE_AMBIENT: 'true' }) as WaypointConfig[]
