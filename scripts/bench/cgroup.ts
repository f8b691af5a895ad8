// A memory cgroup for the benchmark's webhook, limited as a container's memory limit is
// (`resources.limits.memory`). Node sizes V8's heap from that limit, so the figures change
// inside one: this is how the bench measures serve as the chart runs it. Linux only, and
// it needs a writable cgroup file system (root): cgroup v2, or v1's memory controller.
import { constants } from 'node:fs'
import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface MemoryCgroup {
  /** Write a process id here to move it in (before it execs node: V8 reads the limit at start). */
  readonly procs: string
  /** The cgroup's peak memory use in bytes (anonymous memory and page cache charged to it). */
  peak: () => Promise<number>
  remove: () => Promise<void>
}

const writable = async (path: string): Promise<boolean> => access(path, constants.W_OK).then(() => true, () => false)

export async function memoryCgroup (limitMiB: number): Promise<MemoryCgroup> {
  const name = `egress-mtls-bench-${process.pid}`
  const limit = String(limitMiB * 1024 * 1024)
  const v2 = '/sys/fs/cgroup'
  const v2Controllers = await readFile(join(v2, 'cgroup.controllers'), 'utf8').catch(() => '')
  if (v2Controllers.split(/\s+/).includes('memory')) {
    await writeFile(join(v2, 'cgroup.subtree_control'), '+memory').catch(() => undefined)
    const dir = join(v2, name)
    await mkdir(dir)
    await writeFile(join(dir, 'memory.max'), limit)
    await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => undefined)
    return cgroup(dir, 'memory.peak')
  }
  const v1 = '/sys/fs/cgroup/memory'
  if (await writable(join(v1, 'cgroup.procs'))) {
    const dir = join(v1, name)
    await mkdir(dir)
    await writeFile(join(dir, 'memory.limit_in_bytes'), limit)
    return cgroup(dir, 'memory.max_usage_in_bytes')
  }
  throw new Error('--memory-limit needs a writable memory cgroup (Linux, as root: cgroup v2 with the memory controller, or v1 /sys/fs/cgroup/memory)')
}

function cgroup (dir: string, peakFile: string): MemoryCgroup {
  return {
    procs: join(dir, 'cgroup.procs'),
    peak: async () => Number(await readFile(join(dir, peakFile), 'utf8')),
    // Only once its processes have exited; a leftover empty cgroup is harmless.
    remove: () => rmdir(dir).catch(() => undefined),
  }
}
