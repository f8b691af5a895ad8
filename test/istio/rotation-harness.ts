// The two processes of the rotation proof (rotation.test.ts): atomic-writer, kubelet's own
// code that publishes a Secret volume (scripts/atomic-writer, built by
// scripts/build-atomic-writer.sh), and `istio-check sds`, pilot-agent's secret cache and SDS
// server with an Envoy-like subscriber, which prints each response it receives as a JSON line.
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

import { istioCheckBinary } from './istio-check.ts'

const BUILD = fileURLToPath(new URL('../../scripts/build-atomic-writer.sh', import.meta.url))

let writer: Promise<string> | undefined

/** The path of atomic-writer, built on first use (about 790 packages cold). */
export function atomicWriterBinary (): Promise<string> {
  writer ??= new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.on('error', reject)
    child.on('close', (code) => {
      const path = /^ATOMIC_WRITER=(.+)$/m.exec(out)?.[1]
      if (code === 0 && path !== undefined) resolve(path)
      else reject(new Error(`scripts/build-atomic-writer.sh exited ${String(code)}: ${out}`))
    })
  })
  return writer
}

/** A core/v1 Secret volume source, as the pod carries it. */
export interface SecretVolumeSource {
  readonly secretName: string
  readonly items?: readonly { readonly key: string, readonly path: string, readonly mode?: number }[]
  readonly defaultMode?: number
  readonly optional?: boolean
}

/** Publishes `secret` into `dir` through `volume` as kubelet does; the directory `..data` then names. */
export async function publishSecret (dir: string, volume: SecretVolumeSource, secret: unknown): Promise<string> {
  const bin = await atomicWriterBinary()
  return await new Promise((resolve, reject) => {
    const child = execFile(bin, [], { env: {} }, (err, stdout, stderr) => {
      if (err !== null) { reject(new Error(`atomic-writer: ${err.message}: ${stderr}`)); return }
      resolve((JSON.parse(stdout) as { dataDir: string }).dataDir)
    })
    child.stdin?.end(JSON.stringify({ dir, volume, secret }))
  })
}

/** One SDS response the subscriber received (the key only as its SHA-256). */
export interface Delivery {
  readonly resource: string
  readonly version: string
  readonly certificateChain?: string
  readonly privateKeySha256?: string
  readonly trustedCa?: string
  /** When the test read it (performance.now()). */
  readonly at: number
}

/** A running `istio-check sds`: what it delivered so far, and a way to wait for more. */
export interface SdsSubscriber {
  readonly deliveries: readonly Delivery[]
  /** Resolves with the first delivery `match` accepts; rejects after `ms` or when the process ends. */
  waitFor: (match: (d: Delivery) => boolean, ms: number, what: string) => Promise<Delivery>
  /** Closes its stdin (it stops) and resolves with its exit code and stderr. */
  stop: () => Promise<{ code: number | null, stderr: string }>
}

/** Starts `istio-check sds` subscribed, one stream each as Envoy does, to `resources`. */
export async function subscribe (resources: readonly string[]): Promise<SdsSubscriber> {
  const child: ChildProcessWithoutNullStreams = spawn(await istioCheckBinary(), ['sds'], { env: { PATH: process.env['PATH'] } })
  const deliveries: Delivery[] = []
  let stderr = ''
  let ended: { code: number | null } | undefined
  const listeners = new Set<() => void>()
  const notify = (): void => { for (const l of listeners) l() }
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  createInterface({ input: child.stdout }).on('line', (line) => {
    deliveries.push({ ...(JSON.parse(line) as Omit<Delivery, 'at'>), at: performance.now() })
    notify()
  })
  const exited = new Promise<{ code: number | null }>((resolve) => {
    child.on('close', (code) => { ended = { code }; notify(); resolve({ code }) })
  })
  child.stdin.write(`${JSON.stringify({ resources })}\n`)

  const waitFor = (match: (d: Delivery) => boolean, ms: number, what: string): Promise<Delivery> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = deliveries.find(match)
        if (found !== undefined) { done(); resolve(found); return }
        if (ended !== undefined) { done(); reject(new Error(`${what}: istio-check sds exited ${String(ended.code)} first: ${stderr}`)) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`${what}: not delivered within ${ms} ms (${deliveries.length} deliveries so far)`)) }, ms)
      const done = (): void => { clearTimeout(timer); listeners.delete(check) }
      listeners.add(check)
      check()
    })

  const stop = async (): Promise<{ code: number | null, stderr: string }> => {
    child.stdin.end()
    const { code } = await exited
    return { code, stderr }
  }
  return { deliveries, waitFor, stop }
}
