// CPU time of the benchmark's servers by Linux perf (`npm run bench -- --perf`): samples of
// the cpu-clock event, taken only while a thread runs on a CPU. node --cpu-prof samples at
// wall-clock intervals, so on a loaded machine the time a server spends preempted lands on
// whatever it was doing (JSON.parse, a socket write) and swamps the rest; perf does not
// count that time. Each sample goes to its nearest JavaScript frame (inlined callees count as
// their caller, as TurboFan compiled them) or to one of a few native entries (JSON.parse,
// TLS, a system call, garbage collection); V8's helper threads (GC, compilers) apart.
// Linux only; needs `perf` and node's --perf-basic-prof (JavaScript frame names).
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { promisify } from 'node:util'

/** Native frames that name what a sample was doing better than their callers would. */
const NATIVE = /Builtin_JsonParse|Builtin_JsonStringify|Heap::CollectGarbage|ScavengerCollector|ConcurrentMarking|Sweeper|SSL_read|SSL_write|SSL_do_handshake|__libc_write|__libc_read|writev|epoll_wait|finish_task_switch/

/**
 * Node flags for a server whose samples perf should name (/tmp/perf-PID.map); V8's code log,
 * which --perf-basic-prof turns on, goes to `dir` rather than the working directory.
 */
export const perfNodeArgs = (dir: string): string[] => ['--perf-basic-prof', '--no-logfile-per-isolate', `--logfile=${dir}/v8-%p.log`]

export interface PerfRecording { stop: () => Promise<void> }

/** `perf record` of the processes `pids` into `file` until stop(). */
export async function perfRecord (pids: readonly number[], file: string, hz = 997): Promise<PerfRecording> {
  const child: ChildProcess = spawn('perf', ['record', '-e', 'cpu-clock', '-F', String(hz), '-g', '-p', pids.join(','), '-o', file], { stdio: 'ignore' })
  child.once('error', () => undefined)
  // perf attaches in well under a second; the first samples only matter to the warm-up.
  await new Promise((resolve) => setTimeout(resolve, 500))
  return {
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGINT')
      await once(child, 'exit')
    },
  }
}

const frameName = (raw: string, root: string): string => raw.replace(/^(JS:)?[~*+^']?/, '').replaceAll(`file://${root}`, '').replaceAll(root, '').trim()

/**
 * µs of CPU per review for each process (`reviews`: pid -> reviews answered while recording),
 * by where the samples went; the `limit` biggest, and the totals (main thread, other threads).
 */
export async function perfCosts (
  file: string, reviews: ReadonlyMap<number, number>, root: string, limit = 25, hz = 997,
): Promise<{ rows: [string, number[]][], main: number[], other: number[] }> {
  const { stdout } = await promisify(execFile)('perf', ['script', '-i', file, '-F', 'pid,comm,ip,sym'], { maxBuffer: 1 << 30 })
  const pids = [...reviews.keys()]
  const by = pids.map(() => new Map<string, number>())
  const main = pids.map(() => 0)
  const other = pids.map(() => 0)
  let at = -1
  let thread = ''
  let label: string | undefined
  const flush = (leaf: string | undefined): void => {
    if (at === -1) return
    const name = `${thread === 'MainThread' || thread === 'node' ? '' : `[${thread}] `}${label ?? leaf ?? '?'}`
    by[at]!.set(name, (by[at]!.get(name) ?? 0) + 1)
    if (thread === 'MainThread' || thread === 'node') main[at]!++
    else other[at]!++
  }
  let leaf: string | undefined
  for (const line of stdout.split('\n')) {
    const head = /^\s*(\S+)\s+(\d+)\s*$/.exec(line)
    if (head !== null) {
      flush(leaf)
      at = pids.indexOf(Number(head[2]))
      thread = head[1] ?? ''
      label = undefined
      leaf = undefined
      continue
    }
    const frame = /^\s+[0-9a-f]+\s+(.*)$/.exec(line)
    if (frame === null || at === -1 || label !== undefined) continue
    const name = frameName(frame[1] ?? '', root)
    leaf ??= name
    if (/\.(ts|js):\d+/.test(name) || name.includes(' node:') || name.startsWith('node:')) label = name
    else label = NATIVE.exec(name)?.[0]
  }
  flush(leaf)
  const perReview = (i: number, samples: number): number => (samples / hz) * 1e6 / (reviews.get(pids[i]!) ?? Number.NaN)
  const names = new Map<string, number>()
  by.forEach((m, i) => { for (const [name, n] of m) names.set(name, Math.max(names.get(name) ?? 0, perReview(i, n))) })
  const rows = [...names.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit)
    .map(([name]): [string, number[]] => [name, by.map((m, i) => perReview(i, m.get(name) ?? 0))])
  return { rows, main: main.map((n, i) => perReview(i, n)), other: other.map((n, i) => perReview(i, n)) }
}
