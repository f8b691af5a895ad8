// The options of each command, as the CLI parses them (docs/design.md "Commands").
// Each command lives in its own module with `run(options, io): Promise<number>` (the exit code).
import type { Readable, Writable } from 'node:stream'

import type { DocumentFormat } from '../core/text/document.ts'
import type { CertsOptions as CertsRun } from '../kube/certs.ts'
import type { LogFormat } from '../server/log.ts'
import type { OutputFormat } from './output.ts'

export interface Io {
  readonly stdin: Readable
  readonly stdout: Writable
  readonly stderr: Writable
  readonly env: NodeJS.ProcessEnv
}

export interface GlobalOptions {
  readonly config?: string
  readonly kubeconfig?: string
  /** --context: the kubeconfig context instead of the current one. */
  readonly context?: string
  /** --release: the configuration of this installed Helm release (its ConfigMap) instead of --config. */
  readonly release?: string
  /** --release-namespace: the release's namespace (default: the context's namespace). */
  readonly releaseNamespace?: string
}

export interface ServeOptions extends GlobalOptions {
  readonly listen: string
  readonly metricsListen: string
  readonly tlsCert?: string
  readonly tlsKey?: string
  readonly selfSigned: boolean
  readonly logLevel: string
  readonly logFormat: LogFormat
  readonly maxConnections: number
  readonly maxConnectionsPerSource: number
  /** Milliseconds (--shutdown-delay, read as a Go duration). */
  readonly shutdownDelay: number
}

export interface MonitorOptions extends GlobalOptions {
  readonly metricsListen: string
  readonly logLevel: string
  readonly logFormat: LogFormat
}

export interface InjectOptions extends GlobalOptions {
  /** -f, repeatable: files, directories, - for stdin; none: stdin unless it is a terminal. */
  readonly filename?: readonly string[]
  readonly recursive?: boolean
  readonly namespace?: string
  /** Default: JSON when every input is JSON, else YAML. */
  readonly output?: DocumentFormat
}

export interface RenderOptions extends GlobalOptions {
  readonly namespace?: string
  readonly output: DocumentFormat
}

export interface ProvisionOptions extends GlobalOptions {
  readonly dryRun: boolean
  readonly prune: boolean
  readonly pruneAll: boolean
  /** Default: the --release name, else egress-mtls. */
  readonly instance?: string
  readonly adopt: boolean
  readonly output: OutputFormat
  readonly timeout: number
}

/** What `certs` does (kube/certs.ts), and where: the Secret, the webhook, the namespace. */
export interface CertsOptions extends GlobalOptions, Omit<CertsRun, 'log'> {
  /** Default: the kubeconfig context's namespace. */
  readonly namespace?: string
  readonly secret: string
  readonly webhook: string
  /** Seconds the API server has to answer the reachability check. */
  readonly timeout?: number
}

export interface DoctorOptions extends GlobalOptions {
  /** Default: the kubeconfig context's namespace, else "default". */
  readonly namespace?: string
  /** Default: the --release name, else egress-mtls. */
  readonly instance?: string
  readonly workload?: string
  /** Seconds; default 30. */
  readonly timeout?: number
  readonly output: OutputFormat
  /** Offline: manifests (-f, repeatable) and client material files instead of the cluster. */
  readonly filename?: readonly string[]
  readonly recursive?: boolean
  readonly cert?: string
  readonly key?: string
  readonly cacert?: string
}

export interface ProbeOptions extends GlobalOptions {
  readonly target: string
  readonly namespace?: string
  readonly cert?: string
  readonly key?: string
  readonly cacert?: string
  readonly connectTo?: string
  readonly timeout: number
  readonly output: OutputFormat
}
