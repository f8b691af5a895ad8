// The node tier's harness: one real single-node Kubernetes per test file, started by
// scripts/node/cluster.sh in a network namespace of its own (named per run), stopped and
// cleaned (processes, mounts, cgroups, namespace, files) even when a test fails or the run
// is interrupted. Needs root, Go (or cached binaries) and the Debian packages .ci/run
// installs. See test/node/README.md.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { KubeConfig } from '@kubernetes/client-node'

import { repoRoot } from '../support/repo.ts'

const clusterSh = join(repoRoot, 'scripts', 'node', 'cluster.sh')

/** Why the tier cannot run here, or undefined. */
export function cannotRun (): string | undefined {
  if (process.platform !== 'linux') return 'the node tier needs Linux'
  if (process.getuid?.() !== 0) return 'the node tier needs root (network namespace, mounts, cgroups); CI runs as root'
  return undefined
}

function log (msg: string): void {
  process.stderr.write(`[node] ${msg}\n`)
}

/** Runs a command, its stderr streamed to ours; resolves with its stdout, rejects on failure. */
export function sh (cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const child = spawn(cmd, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(out)
      else reject(new Error(`${cmd} ${args.join(' ')}: exit ${String(code)} (see its messages above)`))
    })
  })
}

/** The node tier's binaries (kubelet, kube-controller-manager, kube-scheduler, pause) and helm, by name. */
export async function ensureNodeBinaries (): Promise<Map<string, string>> {
  const out = await sh('bash', [join(repoRoot, 'scripts', 'build-e2e-binaries.sh')], { ...process.env, E2E_NODE: '1' })
  const vars = new Map<string, string>()
  for (const line of out.split('\n')) {
    const m = /^([A-Z_]+)=(.+)$/.exec(line)
    if (m !== null) vars.set(m[1]!, m[2]!)
  }
  return vars
}

export interface Node {
  readonly name: string
  readonly dir: string
  readonly kubeconfigPath: string
  readonly kc: KubeConfig
  stop: () => Promise<void>
}

const live = new Map<string, string>() // name -> dir
let hooked = false

/** Synchronous last resort (exit, signals): `cluster.sh down` for every node still up. */
function downAllSync (): void {
  for (const [name, dir] of live) spawnSync('bash', [clusterSh, 'down', dir, name], { stdio: 'inherit' })
  live.clear()
}

function hookExit (): void {
  if (hooked) return
  hooked = true
  process.on('exit', downAllSync)
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      downAllSync()
      process.kill(process.pid, sig)
    })
  }
}

/**
 * Starts a node with the given OCI image archives imported, with the binaries that
 * ensureNodeBinaries() named; stop() tears it all down.
 */
export async function startNode (binaries: ReadonlyMap<string, string>, images: readonly string[]): Promise<Node> {
  const name = `em-${randomBytes(4).toString('hex')}`
  const dir = mkdtempSync(join(tmpdir(), `egress-mtls-node-${name}-`))
  live.set(name, dir)
  hookExit()
  const t0 = Date.now()
  try {
    await sh('bash', [clusterSh, 'up', dir, name, ...images], { ...process.env, ...Object.fromEntries(binaries) })
  } catch (err) {
    live.delete(name) // cluster.sh cleans up after a failed `up` itself
    throw err
  }
  log(`${name} up in ${Date.now() - t0} ms`)
  const kubeconfigPath = join(dir, 'kubeconfig')
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfigPath)
  let stopped: Promise<void> | undefined
  return {
    name,
    dir,
    kubeconfigPath,
    kc,
    stop: () => {
      stopped ??= sh('bash', [clusterSh, 'down', dir, name]).then(() => { live.delete(name) })
      return stopped
    },
  }
}
