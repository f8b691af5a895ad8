// A value the webhook reads from files and reloads when they change (io/watch.ts): the
// configuration and the serving certificate. A failed reload keeps the last good value.
import { type FileWatcher, watchFiles, type WatchOptions } from '../io/watch.ts'

export interface ReloadableOptions<T> {
  /** Watched for changes; none: loaded once. */
  readonly files: readonly string[]
  readonly load: () => Promise<T>
  /** A reload that gives a value the same as the current one is ignored (default: none is the same). */
  readonly same?: (next: T, current: T) => boolean
  /** The value loaded at start (`reloaded` false) or a new value reloaded; if it throws, the reload failed. */
  readonly loaded: (value: T, reloaded: boolean) => void
  /** A reload failed: the last good value is kept. */
  readonly failed: (err: unknown) => void
  /** The watcher's own trouble (polling goes on). */
  readonly watchError: (err: unknown) => void
  readonly watch?: WatchOptions | undefined
}

export interface Reloadable<T> {
  /** The last good value. */
  current: () => T
  close: () => void
}

/** Loads the value (a failure at start is thrown), then reloads it on each change of its files. */
export async function reloadable<T> (options: ReloadableOptions<T>): Promise<Reloadable<T>> {
  let value: T | undefined
  const reload = async (): Promise<void> => {
    try {
      const next = await options.load()
      if (value !== undefined && options.same?.(next, value) === true) return
      options.loaded(next, true)
      value = next
    } catch (err) {
      options.failed(err)
    }
  }
  // The watcher starts before the files are first read: a change in between is not lost.
  const watcher: FileWatcher | undefined = options.files.length === 0
    ? undefined
    : watchFiles(options.files, reload, options.watchError, options.watch)
  try {
    const initial = await options.load()
    value ??= initial
    options.loaded(value, false)
    const first = value
    return {
      current: () => value ?? first,
      close: () => watcher?.close(),
    }
  } catch (err) {
    watcher?.close()
    throw err
  }
}
