// Results of pure functions kept per configuration, for the next review with the same
// inputs. Most reviews repeat: every UPDATE of an injected Deployment sends the pod-template
// annotations egress-mtls wrote, and Deployments of one namespace share them. A reload makes
// a new Config object, so its results start afresh and the old ones go with it (WeakMap).
//
// Bounded: at most `entries` results per configuration (the oldest is dropped first), and
// inputs whose key is longer than `maxKeyLength` are computed every time, so a client cannot
// grow the cache with large or ever-new inputs. Results are frozen: callers share them.
import { deepFreeze } from './json.ts'

/** `(config, key, compute)`: compute()'s result for `key`, computed once while it is kept. */
export type Memo<V> = (config: object, key: string, compute: () => V) => V

export function memo<V extends object> (entries: number, maxKeyLength: number): Memo<V> {
  const caches = new WeakMap<object, Map<string, V>>()
  return (config, key, compute) => {
    if (key.length > maxKeyLength) return compute()
    let cache = caches.get(config)
    if (cache === undefined) {
      cache = new Map()
      caches.set(config, cache)
    }
    const kept = cache.get(key)
    if (kept !== undefined) return kept
    const value = deepFreeze(compute())
    if (cache.size >= entries) {
      const oldest = cache.keys().next()
      if (oldest.done !== true) cache.delete(oldest.value)
    }
    cache.set(key, value)
    return value
  }
}
