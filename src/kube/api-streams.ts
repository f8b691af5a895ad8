// GET requests and watches to the API server as HTTP/2 streams, many over one connection
// (node:http2): thousands of watches cost a few TLS connections, not one each.
// @kubernetes/client-node makes a connection per request and per watch. The TLS material and
// the credentials are client-node's own (KubeConfig.applyToHTTPSOptions: certificates, tokens,
// token files, exec and auth-provider plugins, impersonation), asked again for each request
// so that rotated tokens are used. A connection is opened when every open one carries as many
// streams as the API server allows (its SETTINGS_MAX_CONCURRENT_STREAMS); one the server closes
// or sends GOAWAY on takes no new stream. Proxies (proxy-url) and plain http:// servers are not
// supported here: `supportsStreams` says so and the caller uses client-node instead, as it does
// on NoHttp2 (a server, or something in front of it, that does not speak HTTP/2).
import { type ClientHttp2Session, type ClientHttp2Stream, connect, constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Settings } from 'node:http2'
import type { RequestOptions } from 'node:https'
import { isIP } from 'node:net'

import type { KubeConfig } from '@kubernetes/client-node'

/** An HTTP answer other than 200, with the API server's own message (metav1.Status). */
export class StatusError extends Error {
  readonly status: number
  readonly reason: string | undefined
  constructor (status: number, body: string) {
    let parsed: { message?: unknown, reason?: unknown } = {}
    try { parsed = JSON.parse(body) as typeof parsed } catch { parsed = {} }
    super(`HTTP ${status}: ${typeof parsed.message === 'string' ? parsed.message : body.slice(0, 200)}`)
    this.name = 'StatusError'
    this.status = status
    this.reason = typeof parsed.reason === 'string' ? parsed.reason : undefined
  }
}

export interface WatchEvent {
  readonly type: string
  readonly object: Record<string, unknown> & { metadata?: { name?: string, namespace?: string, resourceVersion?: string }, code?: number }
}

export interface ApiStreams {
  /** The JSON body of a 200 answer to GET `path` (with its query); StatusError for another; an error after 60 s without a byte. */
  get: (path: string, signal?: AbortSignal) => Promise<unknown>
  /**
   * Watches `path` (with its query, watch=true included), each event to `onEvent`. Resolves
   * when the server ends the watch (its timeoutSeconds); rejects with StatusError for an HTTP
   * error, with another error when the stream or its connection fails or stays silent for
   * `idleMs`, with the abort reason when `signal` aborts.
   */
  watch: (path: string, onEvent: (event: WatchEvent) => void, options: { signal: AbortSignal, idleMs: number }) => Promise<void>
  /** The connections open now: streams open on each, and how many the server allows. */
  connections: () => { streams: number, limit: number }[]
  /** Closes every connection (their streams fail). */
  close: () => void
}

/** Whether the current context's API server can be reached by `apiStreams`: https, no proxy. */
export function supportsStreams (kc: KubeConfig): boolean {
  const cluster = kc.getCurrentCluster()
  return cluster !== null && cluster.server.startsWith('https:') && (cluster.proxyUrl ?? '') === ''
}

/** The server, or a proxy in front of it, does not speak HTTP/2 (TLS ALPN). */
export class NoHttp2 extends Error {
  constructor (origin: string) {
    super(`${origin} does not speak HTTP/2 (TLS ALPN)`)
    this.name = 'NoHttp2'
  }
}

/** A stream the server closed unprocessed: safe to send again. */
class RefusedStream extends Error {
  constructor () {
    super('stream refused by the API server (REFUSED_STREAM)')
    this.name = 'RefusedStream'
  }
}

const REFUSALS = 3

/** Until the server's SETTINGS say otherwise (RFC 9113 recommends no fewer than 100). */
const DEFAULT_STREAMS = 100
const CONNECT_MS = 15_000
/** A list answer silent this long has failed. */
const GET_IDLE_MS = 60_000

export interface StreamsOptions {
  /**
   * Each connection is pinged this often; one with no answer within `pingTimeoutMs` is closed,
   * failing its streams (client-go: 30 s and 15 s).
   */
  readonly pingEveryMs?: number
  readonly pingTimeoutMs?: number
}

interface Connection {
  readonly session: ClientHttp2Session
  streams: number
  limit: number
  usable: boolean
}

async function clientOptions (kc: KubeConfig): Promise<RequestOptions> {
  const options: RequestOptions = {}
  await kc.applyToHTTPSOptions(options)
  return options
}

function requestHeaders (options: RequestOptions, path: string): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ':method': 'GET', ':path': path, accept: 'application/json' }
  for (const [k, v] of Object.entries(options.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v
  if (typeof options.auth === 'string') headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`
  return headers
}

export function apiStreams (kc: KubeConfig, { pingEveryMs = 30_000, pingTimeoutMs = 15_000 }: StreamsOptions = {}): ApiStreams {
  const server = new URL(kc.getCurrentCluster()?.server ?? '')
  const host = server.hostname.replace(/^\[|\]$/g, '')
  const open: Connection[] = []
  let connecting: Promise<void> | undefined

  const dial = async (): Promise<void> => {
    const o = await clientOptions(kc)
    const servername = typeof o.servername === 'string' && o.servername !== '' ? o.servername : (isIP(host) === 0 ? host : undefined)
    const session = connect(server.origin, {
      ca: o.ca, cert: o.cert, key: o.key, pfx: o.pfx, passphrase: o.passphrase,
      ...(o.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: o.rejectUnauthorized }),
      ...(servername === undefined ? {} : { servername }),
      settings: { enablePush: false },
    })
    const connection: Connection = { session, streams: 0, limit: DEFAULT_STREAMS, usable: true }
    const retire = (): void => {
      connection.usable = false
      const i = open.indexOf(connection)
      if (i >= 0) open.splice(i, 1)
    }
    session.on('goaway', retire)
    session.on('close', retire)
    session.on('error', retire)
    session.on('remoteSettings', (s: Settings) => { connection.limit = Math.max(1, Math.min(s.maxConcurrentStreams ?? DEFAULT_STREAMS, 10_000)) })
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        clearTimeout(timer)
        session.destroy()
        reject((err as NodeJS.ErrnoException).code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL' ? new NoHttp2(server.origin) : err)
      }
      const timer = setTimeout(() => { fail(new Error(`no HTTP/2 connection to ${server.origin} within ${CONNECT_MS / 1000} s`)) }, CONNECT_MS)
      // A server that ignores ALPN (no protocol chosen) would leave the session waiting for SETTINGS.
      session.once('connect', () => { if (session.alpnProtocol !== 'h2') fail(new NoHttp2(server.origin)) })
      session.once('remoteSettings', () => { clearTimeout(timer); session.off('error', fail); resolve() })
      session.once('error', fail)
    })
    // A connection that died without a word (no FIN, no RST) answers no ping: close it, so
    // that its watches resume on another instead of waiting for their idle bound.
    const kill = (err: Error): void => { retire(); session.destroy(err) }
    const keepalive = setInterval(() => {
      if (session.destroyed || session.closed) return
      const timer = setTimeout(() => { kill(new Error(`no answer to a ping within ${pingTimeoutMs / 1000} s`)) }, pingTimeoutMs)
      timer.unref()
      if (!session.ping((err) => { clearTimeout(timer); if (err !== null && !session.destroyed) kill(err) })) clearTimeout(timer)
    }, pingEveryMs)
    keepalive.unref()
    session.once('close', () => { clearInterval(keepalive) })
    if (connection.usable) open.push(connection)
  }

  /** A stream reserved on a connection with room for it, opened if none has (one dial at a time). */
  const reserve = async (): Promise<Connection> => {
    for (;;) {
      const free = open.find((c) => c.usable && c.streams < c.limit)
      if (free !== undefined) {
        free.streams++
        return free
      }
      connecting ??= dial().finally(() => { connecting = undefined })
      await connecting
    }
  }

  /**
   * GET `path` on a stream: every chunk of the answer's body (text) to `onChunk` with the
   * answer's status, from the first byte (the listeners are there before any await: a short
   * answer can arrive and its stream close before the caller resumes). Resolves with the
   * status once the headers are in, and `done`, which resolves when the body ended and
   * rejects if the stream fails first (reset, connection lost, silent for `idleMs`, aborted).
   */
  const attempt = async (path: string, signal: AbortSignal | undefined, idleMs: number | undefined,
    onChunk: (chunk: string, status: number, stream: ClientHttp2Stream) => void): Promise<{ status: number, done: Promise<void> }> => {
    signal?.throwIfAborted()
    const headers = requestHeaders(await clientOptions(kc), path)
    const c = await reserve()
    let stream: ClientHttp2Stream
    try {
      stream = c.session.request(headers, signal === undefined ? {} : { signal })
    } catch (err) {
      c.streams--
      throw err
    }
    let status = 0
    let ended = false
    stream.setEncoding('utf8')
    if (idleMs !== undefined) stream.setTimeout(idleMs, () => { stream.destroy(new Error(`nothing received for ${idleMs / 1000} s`)) })
    const answered = new Promise<number>((resolve) => {
      stream.once('response', (h: IncomingHttpHeaders) => { status = Number(h[':status']); resolve(status) })
    })
    stream.on('data', (chunk: string) => { onChunk(chunk, status, stream) })
    stream.once('end', () => { ended = true })
    const done = new Promise<void>((resolve, reject) => {
      let failure: Error | undefined
      stream.once('error', (err: Error) => { failure = err })
      stream.once('close', () => {
        c.streams--
        if (ended && stream.rstCode === constants.NGHTTP2_NO_ERROR) resolve()
        else if (signal?.aborted === true) reject(new Error('request stopped'))
        else if (status === 0 && stream.rstCode === constants.NGHTTP2_REFUSED_STREAM) reject(new RefusedStream())
        else reject(failure ?? new Error(`stream reset (HTTP/2 code ${stream.rstCode})`))
      })
    })
    return await Promise.race([answered.then((n) => ({ status: n, done })), done.then(() => ({ status, done }))])
  }

  /**
   * `attempt`, again on another stream when the server refused this one unprocessed
   * (REFUSED_STREAM: a request racing its GOAWAY, RFC 9113 8.7), up to REFUSALS times.
   */
  const exchange: typeof attempt = async (...args) => {
    for (let tries = 1; ; tries++) {
      try {
        return await attempt(...args)
      } catch (err) {
        if (!(err instanceof RefusedStream) || tries >= REFUSALS) throw err
      }
    }
  }

  return {
    async get (path, signal) {
      let text = ''
      const { status, done } = await exchange(path, signal, GET_IDLE_MS, (chunk) => { text += chunk })
      await done
      if (status !== 200) throw new StatusError(status, text)
      return JSON.parse(text) as unknown
    },

    async watch (path, onEvent, { signal, idleMs }) {
      let rest = ''
      const { status, done } = await exchange(path, signal, idleMs, (chunk, code, stream) => {
        rest += chunk
        if (code !== 200) return
        const lines = rest.split('\n')
        rest = lines.pop() ?? ''
        for (const line of lines) {
          if (line.trim() === '') continue
          try {
            onEvent(JSON.parse(line) as WatchEvent)
          } catch (err) {
            stream.destroy(err as Error)
            return
          }
        }
      })
      if (status !== 200) {
        await done.catch(() => undefined)
        throw new StatusError(status, rest)
      }
      await done
    },

    connections: () => open.map(({ streams, limit }) => ({ streams, limit })),

    close () {
      for (const c of open.splice(0)) {
        c.usable = false
        c.session.destroy()
      }
    },
  }
}
