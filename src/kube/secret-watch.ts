// Watches of Secrets by name (monitor): a list, then a watch from its resourceVersion, always
// with the field selector metadata.name=NAME, in one namespace or across all of them. The
// selector is what lets RBAC's resourceNames grant a list or watch; nothing else is asked
// for. Each Secret's data reaches `onSecret` decoded and is not kept here.
import { setTimeout as sleep } from 'node:timers/promises'

import { CoreV1Api, type KubeConfig, type V1Secret, Watch } from '@kubernetes/client-node'
import type { Logger } from 'pino'

import type { WatchScope } from '../core/tls/secret-reading.ts'
import { apiFailure } from './api-failure.ts'
import { backoffDelay } from './retry.ts'

export interface SecretHandlers {
  /** A Secret in scope now holds `data` (decoded), or is gone (undefined). */
  readonly onSecret: (namespace: string, name: string, data: Readonly<Record<string, string>> | undefined) => void
  /** After each list: the namespaces where a Secret of the scope exists (every other one has none). */
  readonly onList: (namespaces: ReadonlySet<string>) => void
}

/** Runs a list when a slot is free: bounds how many lists (each a TLS handshake) run at once. */
export type Gate = <T>(fn: () => Promise<T>) => Promise<T>

/** A Gate of `width` slots. */
export function gate (width: number): Gate {
  let running = 0
  const waiting: (() => void)[] = []
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (running >= width) await new Promise<void>((resolve) => { waiting.push(resolve) })
    running++
    try {
      return await fn()
    } finally {
      running--
      waiting.shift()?.()
    }
  }
}

export interface SecretWatch {
  /** Resolves after the first list has been delivered. */
  readonly synced: Promise<undefined>
  stop: () => void
}

/** Server-side end of each watch request (seconds), jittered so that reconnections spread. */
const WATCH_SECONDS = 300
/** No byte for this long (bookmarks come about each minute): the connection is dead. */
const IDLE_MS = 150_000

function decode (secret: V1Secret): Record<string, string> {
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))
}

const describe = (scope: WatchScope): string => `${scope.namespace ?? '*'}/${scope.secretName}`

/** Lists then watches `scope` until stop(), re-listing after any failure (backoff up to 30 s). */
export function watchSecrets (
  kc: KubeConfig, scope: WatchScope, handlers: SecretHandlers, log: Logger, lists: Gate = gate(1),
): SecretWatch {
  const core = kc.makeApiClient(CoreV1Api)
  const watcher = new Watch(kc)
  // client-node's own inactivity bound is 30 s, shorter than the bookmarks' period: every
  // quiet watch would reconnect twice a minute.
  ;(watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs = IDLE_MS
  const fieldSelector = `metadata.name=${scope.secretName}`
  const path = scope.namespace === undefined ? '/api/v1/secrets' : `/api/v1/namespaces/${scope.namespace}/secrets`
  const halt = new AbortController()
  const stopped = (): boolean => halt.signal.aborted
  let request: AbortController | undefined
  const { promise: synced, resolve: markSynced } = Promise.withResolvers<undefined>()

  const list = async (): Promise<string> => {
    const answer = await lists(() => scope.namespace === undefined
      ? core.listSecretForAllNamespaces({ fieldSelector })
      : core.listNamespacedSecret({ namespace: scope.namespace, fieldSelector }))
    const present = new Set<string>()
    for (const s of answer.items) {
      const ns = s.metadata?.namespace ?? ''
      present.add(ns)
      handlers.onSecret(ns, scope.secretName, decode(s))
    }
    handlers.onList(present)
    markSynced(undefined)
    return answer.metadata?.resourceVersion ?? ''
  }

  /** Resolves to the last resourceVersion seen, or '' when the watch must start over with a list. */
  const watch = (from: string): Promise<string> => new Promise((resolve) => {
    let rv = from
    let gone = false
    const event = (type: string, obj: V1Secret & { code?: number }): void => {
      if (type === 'ERROR') { gone = true; log.debug({ scope: describe(scope), code: obj.code }, 'watch ended by the API server'); return }
      rv = obj.metadata?.resourceVersion ?? rv
      if (type === 'BOOKMARK') return
      const ns = obj.metadata?.namespace ?? ''
      handlers.onSecret(ns, scope.secretName, type === 'DELETED' ? undefined : decode(obj))
    }
    const done = (err: unknown): void => {
      request = undefined
      if (err !== null && err !== undefined && !stopped() && (err as Error).name !== 'TimeoutError') {
        log.warn({ scope: describe(scope), error: apiFailure(err).message }, 'watch failed')
        gone = true
      }
      resolve(gone ? '' : rv)
    }
    const timeoutSeconds = Math.round(WATCH_SECONDS * (0.8 + 0.4 * Math.random()))
    watcher.watch(path, { fieldSelector, resourceVersion: from, allowWatchBookmarks: true, timeoutSeconds }, event, done)
      .then((r) => { request = r; if (stopped()) r.abort() }, done)
  })

  const loop = async (): Promise<void> => {
    let failures = 0
    while (!stopped()) {
      try {
        let rv = await list()
        failures = 0
        while (!stopped() && rv !== '') rv = await watch(rv)
      } catch (err) {
        if (stopped()) return
        log.warn({ scope: describe(scope), error: apiFailure(err).message }, 'list failed')
      }
      if (!stopped()) await sleep(backoffDelay(failures++, 1000, 30_000) + 200, undefined, { signal: halt.signal }).catch(() => undefined)
    }
  }
  void loop()
  return {
    synced,
    stop () { halt.abort(); request?.abort() },
  }
}
