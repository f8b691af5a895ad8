// Child processes of the benchmark and the integration tests: the real `egress-mtls serve`
// (through the CLI, as a container runs it) and the floor server, each started on port 0
// and awaited until it logs the ports it bound.
import { type ChildProcess, spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

import { cliMain, repoRoot } from './repo.ts'

export const floorMain: string = fileURLToPath(new URL('../../scripts/bench/floor.ts', import.meta.url))

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface Listening {
  readonly child: ChildProcess
  readonly pid: number
  readonly https: number
  /** The plain-HTTP metrics port, when the process has one. */
  readonly metrics: number | undefined
  /** Milliseconds from spawn to the "listening" line. */
  readonly startupMs: number
  /** Everything the process printed so far (stdout and stderr, the last 1 MB). */
  readonly output: () => string
  readonly exited: Promise<Exit>
  /** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs`. */
  readonly stop: (signal?: NodeJS.Signals, timeoutMs?: number) => Promise<Exit>
}

/** The ports in a "listening" log line: {"msg":"listening","https":PORT,"metrics":PORT}. */
function listeningPorts (line: string): { https: number, metrics: number | undefined } | undefined {
  if (!line.startsWith('{')) return undefined
  let entry: unknown
  try { entry = JSON.parse(line) } catch { return undefined }
  if (typeof entry !== 'object' || entry === null) return undefined
  const e = entry as Record<string, unknown>
  if (e['msg'] !== 'listening' || typeof e['https'] !== 'number') return undefined
  return { https: e['https'], metrics: typeof e['metrics'] === 'number' ? e['metrics'] : undefined }
}

export interface SpawnOptions {
  /** Flags for node itself, e.g. ['--cpu-prof', '--cpu-prof-dir=DIR']. */
  readonly nodeArgs?: readonly string[]
  readonly env?: NodeJS.ProcessEnv
  readonly timeoutMs?: number
  /** A cgroup's cgroup.procs: the process is moved there before node starts (bench/cgroup.ts). */
  readonly cgroupProcs?: string
}

/** Spawns `node <script> ...args` and resolves once it logs its listening ports. */
export function spawnListening (script: string, args: readonly string[], options: SpawnOptions = {}): Promise<Listening> {
  const started = performance.now()
  const node = [process.execPath, ...(options.nodeArgs ?? []), script, ...args]
  // In a cgroup: a shell joins it, then becomes node (same pid), as V8 reads the limit at start.
  const [command, ...argv] = options.cgroupProcs === undefined ? node : ['/bin/sh', '-c', 'echo $$ > "$CGROUP_PROCS" && exec "$@"', 'sh', ...node]
  const child = spawn(command ?? process.execPath, argv, {
    cwd: repoRoot,
    env: { ...process.env, ...options.env, ...(options.cgroupProcs === undefined ? {} : { CGROUP_PROCS: options.cgroupProcs }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (s: string): void => { output = (output + s).slice(-1_000_000) }
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => { resolve({ code, signal }) }))
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<Exit> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    const exit = await exited
    clearTimeout(timer)
    return exit
  }
  return new Promise<Listening>((resolve, reject) => {
    let pending = ''
    const timer = setTimeout(() => {
      void stop('SIGKILL')
      reject(new Error(`${script} did not log "listening" within ${options.timeoutMs ?? 20_000} ms:\n${output}`))
    }, options.timeoutMs ?? 20_000)
    child.stderr.setEncoding('utf8').on('data', keep)
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      keep(chunk)
      pending += chunk
      let nl: number
      while ((nl = pending.indexOf('\n')) >= 0) {
        const ports = listeningPorts(pending.slice(0, nl).trim())
        pending = pending.slice(nl + 1)
        if (ports !== undefined) {
          clearTimeout(timer)
          resolve({ child, pid: child.pid!, ...ports, startupMs: performance.now() - started, output: () => output, exited, stop })
        }
      }
    })
    void exited.then((e) => {
      clearTimeout(timer)
      reject(new Error(`${script} exited (code ${String(e.code)}, signal ${String(e.signal)}) before listening:\n${output}`))
    })
  })
}

export interface ServeFiles {
  readonly config: string
  readonly cert: string
  readonly key: string
}

/** The flags of `serve` that name its files. */
export const fileArgs = (files: ServeFiles): string[] => ['--tls-cert', files.cert, '--tls-key', files.key, '--config', files.config]

/** `egress-mtls serve` on loopback port 0, through the CLI entry point (`cli`: another build of it; `args`: more flags). */
export function startServe (
  files: ServeFiles, options: SpawnOptions & { logLevel?: string, cli?: string, args?: readonly string[] } = {},
): Promise<Listening> {
  return spawnListening(options.cli ?? cliMain, [
    'serve', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0',
    ...fileArgs(files), '--log-level', options.logLevel ?? 'info',
    ...(options.args ?? []),
  ], options)
}

export function startFloor (cert: string, key: string, options: SpawnOptions & { fastify?: boolean } = {}): Promise<Listening> {
  return spawnListening(floorMain, ['--tls-cert', cert, '--tls-key', key, '--listen', '127.0.0.1:0', ...(options.fastify === true ? ['--fastify'] : [])], options)
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM), or undefined off Linux. */
export async function procStatusBytes (pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | undefined> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined)
  const m = text === undefined ? null : new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)
  return m === null ? undefined : Number(m[1]) * 1024
}
