// The admission webhook over HTTPS: POST /mutate, AdmissionReview v1 in and out
// (docs/design.md "Protocol (webhook)"). The decision itself is admit(), shared with `inject`.
import { STATUS_CODES } from 'node:http'
import { performance } from 'node:perf_hooks'
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { parseReview, reviewJson } from '../core/admission.ts'
import type { Config } from '../core/config.ts'
import { admit } from '../core/review.ts'
import { UNKNOWN, type Metrics } from './metrics.ts'
import { secureContextOptions, type ServingCertificate } from './tls.ts'

/** What controller-runtime allows; kube-apiserver objects stay far below it. */
export const BODY_LIMIT = 7 * 1024 * 1024

export interface AppOptions {
  readonly certificate: ServingCertificate
  /** The configuration in force, read once per review (it is swapped on reload). */
  readonly config: () => Config
  readonly metrics: Metrics
  readonly log: Logger
  /** True from the moment shutdown begins: answers then carry `Connection: close`. */
  readonly draining: () => boolean
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

const ERROR_MESSAGES: Readonly<Partial<Record<number, string>>> = {
  413: `body larger than ${BODY_LIMIT} bytes`,
  415: 'Content-Type must be application/json',
}

export function createApp ({ certificate, config, metrics, log, draining }: AppOptions) {
  const app = Fastify({
    https: secureContextOptions(certificate),
    bodyLimit: BODY_LIMIT,
    // One debug line per review comes from the handler below; Fastify's per-request
    // logging (and its child logger per request) would only cost time.
    logger: false,
    // Requests arriving on open keep-alive connections after SIGTERM are answered (with
    // `Connection: close`, which Fastify adds while closing), not refused with 503.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Longer than the idle timeout of kube-apiserver's Go client (90 s), so that the server
    // never closes a connection the client is about to reuse for a POST it cannot retry.
    keepAliveTimeout: 120_000,
    requestTimeout: 60_000,
  })
  app.decorateRequest('reviewStart', 0)

  // The body comes from kube-apiserver and is only read here, never merged into another
  // object, so the `__proto__` keys that JSON.parse keeps as plain own properties are
  // harmless; secure-json-parse (Fastify's default) would scan every megabyte for them.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    request.reviewStart = performance.now()
    let value: unknown
    try {
      value = JSON.parse(body as string)
    } catch {
      done(new BadRequest('body is not valid JSON'), undefined)
      return
    }
    done(null, value)
  })

  // From the moment shutdown begins, every answer ends its connection, also for reviews
  // whose headers arrived before: Fastify marks only requests it routes once its onClose
  // hooks run, a few ticks later.
  const send = (reply: FastifyReply, status: number, body: unknown): void => {
    if (draining()) void reply.header('connection', 'close')
    void reply.code(status).send(body)
  }
  const fail = (reply: FastifyReply, status: number, message: string): void => {
    metrics.admission(UNKNOWN, UNKNOWN, 'error')
    send(reply, status, { statusCode: status, error: STATUS_CODES[status], message })
  }

  // Bad requests that Fastify itself turns away: 413 and 415, and JSON syntax errors.
  app.setErrorHandler((err: FastifyError, _request, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
    if (status >= 500) log.error({ err }, 'request failed')
    fail(reply, status, ERROR_MESSAGES[status] ?? (status >= 500 ? 'internal error' : err.message))
  })

  app.post('/mutate', (request: FastifyRequest, reply: FastifyReply) => {
    // No Content-Type and no body: the JSON parser never ran.
    if (request.body === undefined) { fail(reply, 415, ERROR_MESSAGES[415] ?? ''); return }
    const parsed = parseReview(request.body)
    if (!parsed.ok) { fail(reply, 400, parsed.reason); return }
    const review = parsed.request
    let admission
    try {
      admission = admit(review, config())
    } catch (err) {
      log.error({ err, uid: review.uid }, 'admission failed')
      metrics.admission(review.kind.kind, review.operation, 'error')
      send(reply, 500, { statusCode: 500, error: STATUS_CODES[500], message: 'internal error' })
      return
    }
    send(reply.type(JSON_TYPE), 200, reviewJson(parsed.apiVersion, admission.response))
    const seconds = (performance.now() - request.reviewStart) / 1000
    metrics.admission(review.kind.kind, review.operation, admission.result, seconds)
    if (log.isLevelEnabled('debug')) {
      log.debug({
        uid: review.uid,
        kind: review.kind.kind,
        namespace: review.namespace,
        name: review.name,
        operation: review.operation,
        result: admission.result,
        ms: Math.round(seconds * 1e6) / 1e3,
      }, 'review')
    }
  })
  return app
}

export type App = ReturnType<typeof createApp>
