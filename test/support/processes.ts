// Daemons the tests start (etcd, kube-apiserver): spawned with their output in a log file,
// stopped with SIGTERM then SIGKILL, and killed with their temporary directories when this
// process exits.
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface Proc {
  name: string
  child: ChildProcess
  logPath: string
  exited: Promise<number | null>
  exitCode: number | null | undefined
}

const liveProcs = new Set<Proc>()
const liveDirs = new Set<string>()
let exitHookInstalled = false

/**
 * Synchronous last resort (process exit, signals): SIGKILL every etcd and
 * kube-apiserver this process started and remove their temporary directories.
 */
export function emergencyCleanup (): void {
  for (const p of liveProcs) {
    try { p.child.kill('SIGKILL') } catch { /* already gone */ }
  }
  liveProcs.clear()
  for (const d of liveDirs) {
    try { rmSync(d, { recursive: true, force: true }) } catch { /* best effort */ }
  }
  liveDirs.clear()
}

/** Removes `dir` when this process exits, unless forgotten first. */
export function trackDir (dir: string): void {
  liveDirs.add(dir)
  installExitHook()
}

export function forgetDir (dir: string): void {
  liveDirs.delete(dir)
}

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', emergencyCleanup)
}

/** Starts `bin` in `dir`, its stdout and stderr to `dir/<name>.log`. */
export function startProc (name: string, bin: string, args: string[], dir: string): Proc {
  const logPath = join(dir, `${name}.log`)
  const out = createWriteStream(logPath)
  const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.pipe(out, { end: false })
  child.stderr.pipe(out, { end: false })
  const proc: Proc = {
    name,
    child,
    logPath,
    exitCode: undefined,
    exited: new Promise((res) => {
      child.on('error', (err) => {
        out.write(`spawn error: ${err.message}\n`)
        proc.exitCode = -1
        liveProcs.delete(proc)
        res(-1)
      })
      child.on('exit', (code, signal) => {
        proc.exitCode = code
        liveProcs.delete(proc)
        out.write(`\n[harness] ${name} exited: code=${String(code)} signal=${String(signal)}\n`)
        res(code)
      })
    }),
  }
  child.on('close', () => { out.end() })
  liveProcs.add(proc)
  installExitHook()
  return proc
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProc (p: Proc, graceMs: number): Promise<void> {
  if (p.exitCode !== undefined) return
  p.child.kill('SIGTERM')
  const ac = new AbortController()
  const timer = sleep(graceMs, 'timeout' as const, { signal: ac.signal }).catch(() => 'aborted' as const)
  const first = await Promise.race([p.exited.then(() => 'exited' as const), timer])
  ac.abort() // never keep the event loop alive for the grace period
  if (first === 'timeout') {
    p.child.kill('SIGKILL')
    await p.exited
  }
}

/** The last lines of a log file. */
export function tail (path: string, lines = 40): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}
