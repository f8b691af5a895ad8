// Tells when files change, including the files Kubernetes projects from Secret and
// ConfigMap volumes. Those are symlinks (`tls.crt -> ..data/tls.crt`) and kubelet updates
// them by writing a new timestamped directory and renaming a `..data` symlink onto the old
// one: a watch on the file itself would stay on the old inode forever. So the DIRECTORY is
// watched, and since inotify still misses some swaps (a symlink to another directory, some
// volume drivers), the files are also stat()ed periodically. Either way, a change is a
// change of what the path resolves to (inode, size, mtime), and onChange runs once per
// change, never twice at a time.
import { type FSWatcher, type Stats, statSync, watch } from 'node:fs'
import { stat } from 'node:fs/promises'
import { dirname } from 'node:path'

export interface WatchOptions {
  /** Quiet time after a directory event before the files are looked at (default 100 ms). */
  readonly debounceMs?: number
  /** Fallback stat() period (default 2 s). */
  readonly pollMs?: number
}

export interface FileWatcher {
  close: () => void
}

const describe = (s: Stats): string => `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`
const failure = (err: unknown): string => `!${(err as NodeJS.ErrnoException).code ?? 'error'}`

function signatureSync (files: readonly string[]): string {
  return files.map((f) => { try { return describe(statSync(f)) } catch (err) { return failure(err) } }).join('\n')
}

async function signature (files: readonly string[]): Promise<string> {
  const parts = await Promise.all(files.map((f) => stat(f).then(describe, failure)))
  return parts.join('\n')
}

/**
 * Calls onChange after any of `files` changes (content, or the file it resolves to).
 * The state at the time of the call is the reference: create the watcher, then read the files.
 * onChange must handle its own errors; onError hears about watcher trouble (polling goes on).
 */
export function watchFiles (
  files: readonly string[],
  onChange: () => Promise<void>,
  onError: (err: unknown) => void,
  options: WatchOptions = {},
): FileWatcher {
  const { debounceMs = 100, pollMs = 2000 } = options
  let last = signatureSync(files)
  let closed = false
  let running = false
  let requested = 0
  let debounce: NodeJS.Timeout | undefined

  const check = async (): Promise<void> => {
    requested++
    if (running) return
    running = true
    try {
      // Checks asked for while one runs are folded into one more pass.
      let handled = 0
      while (handled !== requested) {
        handled = requested
        const now = await signature(files)
        if (!closed && now !== last) {
          last = now
          await onChange()
        }
      }
    } catch (err) {
      onError(err)
    } finally {
      running = false
    }
  }
  const schedule = (): void => {
    clearTimeout(debounce)
    debounce = setTimeout(() => { void check() }, debounceMs)
    debounce.unref()
  }

  const watchers: FSWatcher[] = []
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    try {
      const w = watch(dir, { persistent: false }, schedule)
      w.on('error', onError)
      watchers.push(w)
    } catch (err) {
      onError(err)
    }
  }
  const poll = setInterval(() => { void check() }, pollMs)
  poll.unref()

  return {
    close () {
      closed = true
      clearTimeout(debounce)
      clearInterval(poll)
      for (const w of watchers) w.close()
    },
  }
}
