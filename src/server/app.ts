// The admission webhook over HTTPS: POST /mutate, AdmissionReview v1 in and out
// (docs/design.md "Protocol (webhook)"). The decision itself is admit(), shared with `inject`.
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'

import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'

import { type AdmissionRequest, parseReview, reviewJson } from '../core/admission/admission-review.ts'
import { type Admission, admit } from '../core/admission/admit.ts'
import { reviewBodyJson } from '../core/admission/review-body.ts'
import type { Config } from '../core/config/config.ts'
import { BODY_BUDGET, BODY_LIMIT, BODY_TIMEOUT_MS, BodyError, createBodyBudget } from './body-budget.ts'
import { type Metrics, type Rejection, UNKNOWN } from './metrics.ts'
import { capPerSource, MAX_CONNECTIONS_PER_SOURCE } from './sources.ts'
import { secureContextOptions, type ServingCertificate } from './tls.ts'

export { BODY_LIMIT } from './body-budget.ts'

/** Bounds on the connections of the webhook port. */
export interface Limits {
  /** Open TCP connections (TLS handshakes included); more are closed at once and counted. */
  readonly maxConnections: number
  /** Open TCP connections from one client address; more from it are closed at once and counted. */
  readonly maxConnectionsPerSource: number
  /** Bytes of request bodies held in memory, all requests together; a body beyond is refused with 503. */
  readonly bodyBudgetBytes: number
  /** From a request's last header to its last body byte. */
  readonly bodyTimeoutMs: number
  /** From the TCP accept to a completed TLS handshake. */
  readonly handshakeTimeoutMs: number
  /** From a request's first byte to its last header (also: a new connection's first request). */
  readonly headersTimeoutMs: number
  /** From a request's first byte to its last body byte. */
  readonly requestTimeoutMs: number
  /** How long an idle keep-alive connection is kept. */
  readonly keepAliveTimeoutMs: number
}

/**
 * Headers and bodies time out well within kube-apiserver's webhook timeout (at most 30 s),
 * so a slow or hostile client never holds a connection longer than the API server would
 * wait. Idle keep-alive connections are kept longer than the idle timeout of kube-apiserver's
 * Go client (90 s): the server never closes a connection the client is about to reuse for a
 * POST it cannot retry.
 */
export const DEFAULT_LIMITS: Limits = {
  maxConnections: 1000,
  maxConnectionsPerSource: MAX_CONNECTIONS_PER_SOURCE,
  bodyBudgetBytes: BODY_BUDGET,
  bodyTimeoutMs: BODY_TIMEOUT_MS,
  handshakeTimeoutMs: 5_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 25_000,
  keepAliveTimeoutMs: 120_000,
}

/** How often Node checks the headers and request timeouts (its default, 30 s, would let them run late by as much). */
const TIMEOUT_CHECK_MS = 500

export interface AppOptions {
  readonly certificate: ServingCertificate
  /** The configuration in force, read once per review (it is swapped on reload). */
  readonly config: () => Config
  readonly metrics: Metrics
  readonly log: Logger
  /** True from the moment shutdown begins: answers then carry `Connection: close`. */
  readonly draining: () => boolean
  readonly limits?: Limits
}

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the body started to be parsed. */
    reviewStart: number
  }
}

class BadRequest extends Error {
  readonly statusCode = 400
}

const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * No route has a schema: Fastify's default compilers (ajv, fast-json-stringify: about 110
 * modules, 1.6 MB of heap) would only cost memory and start-up. A schema added later fails at
 * ready() with this message.
 */
const noSchemas = (): never => { throw new Error('the webhook declares no schemas (createApp sets no validator or serializer compiler)') }

const REJECTION_BY_STATUS: Readonly<Partial<Record<number, Rejection>>> = {
  400: 'bad_request',
  404: 'not_found',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
}

const ERROR_MESSAGES: Readonly<Partial<Record<number, string>>> = {
  413: `body larger than ${BODY_LIMIT} bytes`,
  415: 'Content-Type must be application/json',
}

/** At most one warning a second about bodies shed, with how many were shed since the last. */
function shedLogger (log: Logger): (err: BodyError) => void {
  let last = Number.NEGATIVE_INFINITY
  let unlogged = 0
  return (err) => {
    unlogged++
    const now = performance.now()
    if (now - last < 1000) return
    log.warn({ shed: unlogged, reason: err.message }, 'request bodies shed: the memory for bodies in flight is spent')
    last = now
    unlogged = 0
  }
}

/** What a client error of Node's HTTP or TLS server counts as, and the status answered (none: TLS). */
function clientErrorKind (code: string | undefined): { reason?: Rejection, status?: number } {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { reason: 'request_timeout', status: 408 }
  // The client ended the connection in the middle of a request: nothing was refused (a
  // body cut short is counted once, as client_closed, where it was being read).
  if (code === 'HPE_INVALID_EOF_STATE') return {}
  if (code === 'HPE_HEADER_OVERFLOW') return { reason: 'headers_too_large', status: 431 }
  if (code?.startsWith('HPE_') === true) return { reason: 'bad_request', status: 400 }
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return { reason: 'tls_handshake_timeout' }
  if (code?.startsWith('ERR_SSL_') === true) return { reason: 'tls_handshake_failed' }
  // A client that went away (ECONNRESET, EPIPE, ...): nothing was refused.
  return {}
}

/**
 * Node's HTTP and TLS client errors: timeouts (408), malformed HTTP (400), oversized headers
 * (431) and failed TLS handshakes are counted and the socket closed; a client that merely
 * went away is not counted.
 */
function answerClientError (metrics: Metrics, closedByServer: WeakSet<Socket>) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    const { reason, status } = clientErrorKind(err.code)
    if (reason !== undefined) {
      closedByServer.add(socket)
      metrics.rejection(reason)
    }
    if (status !== undefined && socket.writable) {
      const body = JSON.stringify({ statusCode: status, error: STATUS_CODES[status], message: reason === 'request_timeout' ? 'request not received in time' : STATUS_CODES[status] })
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`)
    }
    socket.destroy()
  }
}

/** Longest a name logged may be: a Kubernetes name is at most 253 characters. */
const MAX_NAME = 253
/** Longest a denial or warning logged may be (the warnings of one review are at most ten). */
const MAX_MESSAGE = 1024

/** A string of the request as logged: cut at `max` characters, saying how long it was. */
function bounded (value: string | undefined, max = MAX_NAME): string | undefined {
  if (typeof value !== 'string' || value.length <= max) return value
  return `${value.slice(0, max)}... (${value.length} characters)`
}

/**
 * A review's log line: denials and warnings at info (what the user saw, and why), every
 * review at debug (`debug`: the logger's level, read once); never the object itself.
 */
function logReview (log: Logger, debug: boolean, review: AdmissionRequest, admission: Admission, seconds: number): void {
  const { allowed, status, warnings } = admission.response
  const notable = !allowed || (warnings !== undefined && warnings.length > 0)
  if (!notable && !debug) return
  // Every field from the request is bounded (the uid by parseReview): a review cannot write
  // a line of megabytes.
  const line = {
    uid: review.uid,
    kind: bounded(review.kind.kind),
    namespace: bounded(review.namespace),
    name: bounded(review.name),
    operation: bounded(review.operation),
    result: admission.result,
    ...(review.dryRun === true ? { dryRun: true } : {}),
    ...(allowed ? {} : { reason: bounded(status?.message, MAX_MESSAGE) }),
    ...(warnings === undefined || warnings.length === 0 ? {} : { warnings: warnings.map((w) => bounded(w, MAX_MESSAGE)) }),
    // The catalogue's codes (src/core/admission/messages.ts) of the denial and the warnings.
    ...(notable ? { codes: [admission.denial, ...admission.warnings].flatMap((m) => m === undefined ? [] : [m.code]) } : {}),
    ms: Math.round(seconds * 1e6) / 1e3,
  }
  if (!allowed) log.info(line, 'review denied')
  else if (notable) log.info(line, 'review allowed with warnings')
  else log.debug(line, 'review')
}

export function createApp ({ certificate, config, metrics, log, draining, limits = DEFAULT_LIMITS }: AppOptions) {
  // Sockets the server itself ended (a 408, malformed HTTP): the body cut short with them is
  // counted once, by answerClientError, not again as client_closed.
  const closedByServer = new WeakSet<Socket>()
  const app = Fastify({
    https: {
      ...secureContextOptions(certificate),
      handshakeTimeout: limits.handshakeTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    bodyLimit: BODY_LIMIT,
    schemaController: { compilersFactory: { buildValidator: noSchemas, buildSerializer: noSchemas } },
    // One debug line per review comes from the handler below; Fastify's per-request
    // logging (and its child logger per request) would only cost time.
    logger: false,
    // Requests arriving on open keep-alive connections after SIGTERM are answered (with
    // `Connection: close`, which Fastify adds while closing), not refused with 503.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    clientErrorHandler: answerClientError(metrics, closedByServer),
  })
  app.server.maxConnections = limits.maxConnections
  app.server.on('drop', () => { metrics.rejection('connection_limit') })
  const sources = capPerSource(app.server, limits.maxConnectionsPerSource, () => { metrics.rejection('source_connection_limit') })
  const bodies = createBodyBudget({ bodyLimit: BODY_LIMIT, budget: limits.bodyBudgetBytes, timeoutMs: limits.bodyTimeoutMs })
  metrics.countBodyBytes(bodies.held)
  const shed = shedLogger(log)
  // The level is set once, at start (serve --log-level).
  const debug = log.isLevelEnabled('debug')
  metrics.countConnections(() => new Promise((resolve) => {
    app.server.getConnections((err, count) => { resolve(err === null ? count : 0) })
  }))
  app.decorateRequest('reviewStart', 0)

  // The body comes from kube-apiserver and is only read here, never merged into another
  // object, so the `__proto__` keys that JSON.parse keeps as plain own properties are
  // harmless; secure-json-parse (Fastify's default) would scan every megabyte for them.
  app.removeAllContentTypeParsers()
  // The body is read within the per-request limit, the shared budget and the body deadline
  // (body-budget.ts); its bytes stay counted until the answer is sent (within the callback),
  // and the body may be a buffer the budget reuses once the callback returns: only
  // reviewBodyJson reads it, and JSON.parse's values keep nothing of it.
  app.addContentTypeParser('application/json', (request, _payload, done) => {
    bodies.read(request.raw, (body) => {
      if (body instanceof BodyError) {
        if (body.reason === 'body_budget') shed(body)
        done(body, undefined)
        return
      }
      request.reviewStart = performance.now()
      const json = reviewBodyJson(body)
      if (json.ok) done(null, json.value)
      else done(new BadRequest(json.error), undefined)
    })
  })

  // From the moment shutdown begins, every answer ends its connection, also for reviews
  // whose headers arrived before: Fastify marks only requests it routes once its onClose
  // hooks run, a few ticks later.
  const send = (reply: FastifyReply, status: number, body: unknown): void => {
    if (draining()) void reply.header('connection', 'close')
    void reply.code(status).send(body)
  }
  // 4xx: the request was not a review (HTTP-level rejections); 5xx: an admission error.
  const fail = (reply: FastifyReply, status: number, message: string): void => {
    if (status >= 500) metrics.admission(UNKNOWN, UNKNOWN, 'error')
    else metrics.rejection(REJECTION_BY_STATUS[status] ?? 'bad_request')
    send(reply, status, { statusCode: status, error: STATUS_CODES[status], message })
  }

  // Bad requests that Fastify itself turns away: 413 and 415, and JSON syntax errors.
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof BodyError) {
      // The rest of the body is not read: the connection ends with the answer.
      if (err.reason === 'client_closed') {
        if (!closedByServer.has(request.raw.socket)) metrics.rejection(err.reason)
        request.raw.socket.destroy()
        return
      }
      metrics.rejection(err.reason)
      send(reply.header('connection', 'close'), err.statusCode, { statusCode: err.statusCode, error: STATUS_CODES[err.statusCode], message: err.message })
      return
    }
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
    if (status >= 500) log.error({ err }, 'request failed')
    fail(reply, status, ERROR_MESSAGES[status] ?? (status >= 500 ? 'internal error' : err.message))
  })
  app.setNotFoundHandler((_request, reply) => { fail(reply, 404, 'not found: reviews go to POST /mutate') })

  app.post('/mutate', (request: FastifyRequest, reply: FastifyReply) => {
    const { body } = request
    // No Content-Type and no body: the JSON parser never ran.
    if (body === undefined) { fail(reply, 415, ERROR_MESSAGES[415] ?? ''); return }
    // Not kept on the request, which lives until its answer is written: the review is read
    // here, at once, and a body kept beyond survives the young generation's collections
    // (under Node's own heap choices, 261 MB of RSS after 80,000 reviews of (a) instead of 200).
    request.body = undefined
    const parsed = parseReview(body)
    if (!parsed.ok) { fail(reply, 400, parsed.error); return }
    const review = parsed.value.request
    let admission
    try {
      admission = admit(review, config())
    } catch (err) {
      log.error({ err, uid: review.uid }, 'admission failed')
      metrics.admission(review.kind.kind, review.operation, 'error', (performance.now() - request.reviewStart) / 1000, review.dryRun === true)
      send(reply, 500, { statusCode: 500, error: STATUS_CODES[500], message: 'internal error' })
      return
    }
    send(reply.type(JSON_TYPE), 200, reviewJson(parsed.value.apiVersion, admission.response))
    const seconds = (performance.now() - request.reviewStart) / 1000
    metrics.admission(review.kind.kind, review.operation, admission.result, seconds, review.dryRun === true)
    logReview(log, debug, review, admission, seconds)
  })
  return Object.assign(app, {
    /** Whether the port can take another connection: not at its cap. */
    saturated: () => sources.total() >= limits.maxConnections,
  })
}

export type App = ReturnType<typeof createApp>
