// Watches of Secrets by name (monitor): a list, then a watch from its resourceVersion, always
// with the field selector metadata.name=NAME, in one namespace or across all of them. The
// selector is what lets RBAC's resourceNames grant a list or watch; nothing else is asked
// for. Each Secret's data reaches `onSecret` decoded and is not kept here. The requests go
// through a SecretSource: HTTP/2 streams sharing a few connections (api-streams.ts), or
// client-node (a connection per request) where those cannot be used (a proxy, http://).
import { setTimeout as sleep } from 'node:timers/promises'

import { CoreV1Api, type KubeConfig, type V1Secret, Watch } from '@kubernetes/client-node'
import type { Logger } from 'pino'

import type { WatchScope } from '../core/tls/secret-reading.ts'
import { apiFailure } from './api-failure.ts'
import { apiStreams, NoHttp2, StatusError, supportsStreams, type WatchEvent } from './api-streams.ts'
import { backoffDelay } from './retry.ts'

export interface SecretHandlers {
  /** A Secret in scope now holds `data` (decoded), or is gone (undefined). */
  readonly onSecret: (namespace: string, name: string, data: Readonly<Record<string, string>> | undefined) => void
  /** After each list: the namespaces where a Secret of the scope exists (every other one has none). */
  readonly onList: (namespaces: ReadonlySet<string>) => void
}

/** Runs a list when a slot is free: bounds how many lists run at once. */
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

interface WatchOptions { readonly signal: AbortSignal, readonly idleMs: number }

/** Lists and watches of Secrets; `path` is a collection's, `query` its parameters. */
export interface SecretSource {
  list: (
    path: string, query: Readonly<Record<string, string>>, signal: AbortSignal,
  ) => Promise<{ items: readonly V1Secret[], resourceVersion: string }>
  /** Resolves when the server ends the watch; rejects on failure (StatusError: the API's answer). */
  watch: (
    path: string, query: Readonly<Record<string, string>>, onEvent: (event: WatchEvent) => void, options: WatchOptions,
  ) => Promise<void>
  close: () => void
}

const withQuery = (path: string, query: Readonly<Record<string, string>>): string => `${path}?${new URLSearchParams(query).toString()}`

/**
 * HTTP/2 streams over a few connections when the API server can be reached so, else
 * client-node: for a proxy-url or an http:// server, and from the first time the server (or
 * something in front of it) turns out not to speak HTTP/2 (said once in the log).
 */
export function secretSource (kc: KubeConfig, log?: Logger): SecretSource {
  if (!supportsStreams(kc)) return clientNodeSource(kc)
  const streams = apiStreams(kc)
  const h2: SecretSource = {
    async list (path, query, signal) {
      const answer = await streams.get(withQuery(path, query), signal) as { items?: V1Secret[], metadata?: { resourceVersion?: string } }
      return { items: answer.items ?? [], resourceVersion: answer.metadata?.resourceVersion ?? '' }
    },
    watch: (path, query, onEvent, options) => streams.watch(withQuery(path, { ...query, watch: 'true' }), onEvent, options),
    close: streams.close,
  }
  let current = h2
  const either = async <T>(call: (source: SecretSource) => Promise<T>): Promise<T> => {
    try {
      return await call(current)
    } catch (err) {
      if (!(err instanceof NoHttp2)) throw err
      if (current === h2) {
        current = clientNodeSource(kc)
        log?.warn({ error: err.message }, 'HTTP/2 refused: one connection per list and per watch from now on')
      }
      return await call(current)
    }
  }
  return {
    list: (path, query, signal) => either((s) => s.list(path, query, signal)),
    watch: (path, query, onEvent, options) => either((s) => s.watch(path, query, onEvent, options)),
    close: () => { current.close(); streams.close() },
  }
}

/** client-node's list and Watch: one connection per request. */
function clientNodeSource (kc: KubeConfig): SecretSource {
  const core = kc.makeApiClient(CoreV1Api)
  return {
    async list (path, query) {
      const namespace = /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/.exec(path)?.[1]
      const params = { fieldSelector: query['fieldSelector'] ?? '', ...(query['resourceVersion'] === undefined ? {} : { resourceVersion: query['resourceVersion'] }) }
      const answer = namespace === undefined
        ? await core.listSecretForAllNamespaces(params)
        : await core.listNamespacedSecret({ namespace, ...params })
      return { items: answer.items, resourceVersion: answer.metadata?.resourceVersion ?? '' }
    },
    watch: (path, query, onEvent, { signal, idleMs }) => new Promise((resolve, reject) => {
      const watcher = new Watch(kc)
      // client-node's own inactivity bound is 30 s, shorter than the bookmarks' period.
      ;(watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs = idleMs
      const done = (err: unknown): void => {
        const status = (err as { statusCode?: unknown } | null)?.statusCode
        if (err === null || err === undefined) resolve()
        else reject(typeof status === 'number' ? new StatusError(status, (err as Error).message) : err instanceof Error ? err : new Error(apiFailure(err).message))
      }
      watcher.watch(path, query, (type, object: WatchEvent['object']) => { onEvent({ type, object }) }, done)
        .then((request) => { signal.addEventListener('abort', () => { request.abort() }, { once: true }); if (signal.aborted) request.abort() }, done)
    }),
    close: () => undefined,
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
const failure = (err: unknown): string => err instanceof StatusError ? err.message : apiFailure(err).message

/** How a watch ended: by the server (watch again), by a failure of the connection (again, after a pause), or the API said to list again. */
type WatchEnd = 'ended' | 'failed' | 'relist'

/**
 * Lists then watches `scope` until stop(). A watch that ends or fails resumes from the last
 * resourceVersion seen; an ERROR event (410 Gone: the version is too old) or an HTTP error
 * means a new list. Failures wait with backoff up to 30 s, reset by any event received.
 */
export function watchSecrets (
  source: SecretSource, scope: WatchScope, handlers: SecretHandlers, log: Logger, lists: Gate = gate(1),
): SecretWatch {
  const fieldSelector = `metadata.name=${scope.secretName}`
  const path = scope.namespace === undefined ? '/api/v1/secrets' : `/api/v1/namespaces/${scope.namespace}/secrets`
  const halt = new AbortController()
  const stopped = (): boolean => halt.signal.aborted
  const { promise: synced, resolve: markSynced } = Promise.withResolvers<undefined>()
  let rv = ''
  let failures = 0

  let listed = false
  /** The first list may be the API server's cache (resourceVersion=0, as client-go's reflector does); later ones are current. */
  const list = async (): Promise<void> => {
    const answer = await lists(() => source.list(path, listed ? { fieldSelector } : { fieldSelector, resourceVersion: '0' }, halt.signal))
    listed = true
    const present = new Set<string>()
    for (const s of answer.items) {
      const ns = s.metadata?.namespace ?? ''
      present.add(ns)
      handlers.onSecret(ns, scope.secretName, decode(s))
    }
    handlers.onList(present)
    markSynced(undefined)
    rv = answer.resourceVersion
  }

  const watch = async (): Promise<WatchEnd> => {
    const state = { relist: false }
    const event = ({ type, object }: WatchEvent): void => {
      failures = 0
      if (type === 'ERROR') { state.relist = true; log.debug({ scope: describe(scope), code: object.code }, 'watch ended by the API server'); return }
      rv = object.metadata?.resourceVersion ?? rv
      if (type === 'BOOKMARK') return
      handlers.onSecret(object.metadata?.namespace ?? '', scope.secretName, type === 'DELETED' ? undefined : decode(object))
    }
    const timeoutSeconds = String(Math.round(WATCH_SECONDS * (0.8 + 0.4 * Math.random())))
    try {
      await source.watch(path, { fieldSelector, resourceVersion: rv, allowWatchBookmarks: 'true', timeoutSeconds }, event, { signal: halt.signal, idleMs: IDLE_MS })
      return state.relist ? 'relist' : 'ended'
    } catch (err) {
      if (!stopped()) log[failures === 0 ? 'debug' : 'warn']({ scope: describe(scope), error: failure(err) }, 'watch failed')
      return err instanceof StatusError || state.relist ? 'relist' : 'failed'
    }
  }

  const pause = (): Promise<unknown> =>
    sleep(backoffDelay(failures++, 1000, 30_000) + 200, undefined, { signal: halt.signal }).catch(() => undefined)

  const loop = async (): Promise<void> => {
    while (!stopped()) {
      try {
        await list()
      } catch (err) {
        if (stopped()) return
        log.warn({ scope: describe(scope), error: failure(err) }, 'list failed')
        await pause()
        continue
      }
      for (;;) {
        const end = stopped() ? 'relist' : await watch()
        if (stopped()) return
        if (end === 'ended') continue
        await pause()
        if (end === 'relist') break
      }
    }
  }
  void loop()
  return {
    synced,
    stop () { halt.abort() },
  }
}
