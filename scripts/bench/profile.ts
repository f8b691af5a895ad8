// Summary of a V8 .cpuprofile (node --cpu-prof): the functions with the most self time,
// and the share of time spent under each function (inclusive), for finding the hot path.
// Samples before the first HTTP request (module loading, start-up) are left out: what is
// left is the server at work.
import { readFile } from 'node:fs/promises'
import { relative } from 'node:path'

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: readonly number[]
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

export interface HotSpot {
  readonly name: string
  /** Share of all samples, 0..1. */
  readonly self: number
  readonly total: number
  /** The callers through which most of the self time came, nearest first. */
  readonly via: string
}

function frameName (f: CallFrame, root: string): string {
  const file = f.url === '' ? '' : relative(root, f.url.replace(/^file:\/\//, ''))
  return `${f.functionName === '' ? '(anonymous)' : f.functionName} ${file === '' ? '' : `${file}:${f.lineNumber + 1}`}`.trim()
}

/** Where a frame's code lives: a package, a folder of the repository, Node's own JavaScript, or native code. */
function origin (f: CallFrame, root: string): string {
  if (f.url === '') return f.functionName === '(garbage collector)' ? 'garbage collector' : 'native (V8, OpenSSL, libuv)'
  if (f.url.startsWith('node:')) return 'node: internals'
  const file = relative(root, f.url.replace(/^file:\/\//, ''))
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)
  if (pkg !== null) return pkg[1]!
  return file.split('/').slice(0, 2).join('/')
}

/** The frame under which a server handles its first request: samples before it are start-up. */
const FIRST_REQUEST = 'parserOnHeadersComplete'

/** The `limit` hottest functions by self time and by inclusive time, and self time by origin; idle time and start-up excluded. */
export async function hotSpots (
  path: string,
  root: string,
  limit = 15,
): Promise<{ bySelf: HotSpot[], byTotal: HotSpot[], byOrigin: [string, number][], busyMs: number }> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  const chains = new Map<string, Map<string, number>>()
  const origins = new Map<string, number>()
  // Self time per node from the first sample under FIRST_REQUEST on.
  const underRequest = (id: number): boolean => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      if (byId.get(cur)?.callFrame.functionName === FIRST_REQUEST) return true
    }
    return false
  }
  const first = profile.samples.findIndex(underRequest)
  const selfTime = new Map<number, number>()
  profile.samples.forEach((id, i) => {
    if (first !== -1 && i >= first) selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  })
  let busy = 0
  for (const [id, t] of selfTime) {
    const node = byId.get(id)
    if (node === undefined || node.callFrame.functionName === '(idle)' || node.callFrame.functionName === '(program)') continue
    busy += t
    const name = frameName(node.callFrame, root)
    self.set(name, (self.get(name) ?? 0) + t)
    const from = origin(node.callFrame, root)
    origins.set(from, (origins.get(from) ?? 0) + t)
    const up: string[] = []
    for (let cur = parent.get(id); cur !== undefined && up.length < 4; cur = parent.get(cur)) {
      const n = byId.get(cur)
      if (n !== undefined && n.callFrame.functionName !== '(root)') up.push(frameName(n.callFrame, root))
    }
    const via = chains.get(name) ?? new Map<string, number>()
    via.set(up.join(' < '), (via.get(up.join(' < ')) ?? 0) + t)
    chains.set(name, via)
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)
      if (n === undefined || n.callFrame.functionName === '(root)') continue
      const nm = frameName(n.callFrame, root)
      if (seen.has(nm)) continue
      seen.add(nm)
      total.set(nm, (total.get(nm) ?? 0) + t)
    }
  }
  const top = (m: Map<string, number>): HotSpot[] => [...m.entries()]
    .sort((a, b) => b[1] - a[1]).slice(0, limit)
    .map(([name]) => ({
      name,
      self: (self.get(name) ?? 0) / busy,
      total: (total.get(name) ?? 0) / busy,
      via: [...(chains.get(name) ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '',
    }))
  const byOrigin = [...origins.entries()].sort((a, b) => b[1] - a[1]).map(([o, t]): [string, number] => [o, t / busy])
  return { bySelf: top(self), byTotal: top(total), byOrigin, busyMs: busy / 1000 }
}
