// Summary of a V8 .cpuprofile (node --cpu-prof): the functions with the most self time,
// and the share of time spent under each function (inclusive), for finding the hot path.
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
}

function frameName (f: CallFrame, root: string): string {
  const file = f.url === '' ? '' : relative(root, f.url.replace(/^file:\/\//, ''))
  return `${f.functionName === '' ? '(anonymous)' : f.functionName} ${file === '' ? '' : `${file}:${f.lineNumber + 1}`}`.trim()
}

/** The `limit` hottest functions by self time and by inclusive time, idle time excluded. */
export async function hotSpots (path: string, root: string, limit = 15): Promise<{ bySelf: HotSpot[], byTotal: HotSpot[], busyMs: number }> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfTime = new Map<number, number>()
  profile.samples.forEach((id, i) => { selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)) })
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  let busy = 0
  for (const [id, t] of selfTime) {
    const node = byId.get(id)
    if (node === undefined || node.callFrame.functionName === '(idle)' || node.callFrame.functionName === '(program)') continue
    busy += t
    const name = frameName(node.callFrame, root)
    self.set(name, (self.get(name) ?? 0) + t)
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
    .map(([name]) => ({ name, self: (self.get(name) ?? 0) / busy, total: (total.get(name) ?? 0) / busy }))
  return { bySelf: top(self), byTotal: top(total), busyMs: busy / 1000 }
}
