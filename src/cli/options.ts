// The options of each command, as the CLI parses them (DESIGN.md "Commands").
// Each command lives in its own module with `run(options, io): Promise<number>` (the exit code).
import type { Readable, Writable } from 'node:stream'

export interface Io {
  readonly stdin: Readable
  readonly stdout: Writable
  readonly stderr: Writable
  readonly env: NodeJS.ProcessEnv
}

export interface GlobalOptions {
  readonly config?: string
  readonly kubeconfig?: string
}

export interface ServeOptions extends GlobalOptions {
  readonly listen: string
  readonly metricsListen: string
  readonly tlsCert?: string
  readonly tlsKey?: string
  readonly selfSigned: boolean
  readonly logLevel: string
  readonly logFormat: string
  readonly maxConnections: number
}

export interface InjectOptions extends GlobalOptions {
  readonly filename: string
  readonly namespace?: string
}

export interface RenderOptions extends GlobalOptions {
  readonly namespace?: string
}

export interface ProvisionOptions extends GlobalOptions {
  readonly dryRun: boolean
  readonly prune: boolean
  readonly pruneAll: boolean
  readonly instance: string
  readonly adopt: boolean
  readonly output: 'text' | 'yaml' | 'json'
  readonly timeout: number
}

export interface CertsOptions extends GlobalOptions {
  readonly namespace: string
  readonly service: string
  readonly secret: string
  readonly webhook: string
  readonly caValidityDays: number
  readonly leafValidityDays: number
  readonly renewFraction: number
  /** Delete the Secret instead (uninstall). */
  readonly uninstall: boolean
}

export interface DoctorOptions extends GlobalOptions {
  readonly namespace: string
  readonly instance: string
  readonly workload?: string
  readonly output: 'text' | 'yaml' | 'json'
}

export interface ProbeOptions extends GlobalOptions {
  readonly target: string
  readonly namespace?: string
  readonly cert?: string
  readonly key?: string
  readonly cacert?: string
  readonly connectTo?: string
  readonly timeout: number
  readonly output: 'text' | 'yaml' | 'json'
}
