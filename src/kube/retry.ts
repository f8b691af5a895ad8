// Retries of transient Kubernetes API errors: the connection refused or cut, 429 (throttled),
// 5xx and 409 (a conflict: the caller re-reads before it retries), with exponential backoff
// and full jitter, within a deadline.
import { setTimeout as sleep } from 'node:timers/promises'

import { ApiException, type ConfigurationOptions, Observable, type ObservableMiddleware } from '@kubernetes/client-node'

import { type ApiFailure, apiFailure } from './api-failure.ts'

/** Network error codes that say "try again": the server is starting, restarting or overloaded. */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
])

/** The error code of `err` or of one of its causes (undici wraps them: TypeError('fetch failed')). */
function errorCode (err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') return code
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

/**
 * Client-node request options under which no request outlives `deadline`, not even one the
 * server accepted and never answers (the request is aborted; apiFailure explains it).
 */
export function deadlineOptions (deadline: number): ConfigurationOptions {
  const bound: ObservableMiddleware = {
    pre: (request) => {
      request.setSignal(AbortSignal.timeout(Math.max(1, deadline - Date.now())))
      return new Observable(Promise.resolve(request))
    },
    post: (response) => new Observable(Promise.resolve(response)),
  }
  return { middleware: [bound], middlewareMergeStrategy: 'append' }
}

/** Worth another try: connection errors, 409 Conflict, 429 Too Many Requests, 5xx but 501. */
export function isTransient (err: unknown): boolean {
  if (err instanceof ApiException) {
    const status = err.code
    return status === 409 || status === 429 || (status >= 500 && status !== 501)
  }
  const code = errorCode(err)
  return code !== undefined && TRANSIENT_CODES.has(code)
}

/** Seconds from a Retry-After header (429, 503), when the API sent one. */
function retryAfterMs (err: unknown): number | undefined {
  if (!(err instanceof ApiException)) return undefined
  const headers = err.headers as Record<string, string | undefined>
  const value = headers['retry-after'] ?? headers['Retry-After']
  const seconds = value === undefined ? NaN : Number(value)
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined
}

/** Full jitter: a random delay up to min(max, base · 2^attempt); attempt counts from 0. */
export function backoffDelay (attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** attempt))
}

export interface RetryOptions {
  /** Give up after this time (Date.now() milliseconds): the last error is thrown. */
  readonly deadline: number
  readonly baseDelayMs?: number
  readonly maxDelayMs?: number
  /** Which errors are worth another try (default isTransient). */
  readonly retryable?: (err: unknown) => boolean
  /** Give up after this many tries (default: only the deadline bounds them). */
  readonly attempts?: number
  /** Told before each wait. */
  readonly onRetry?: (failure: ApiFailure, attempt: number, delayMs: number) => void
  readonly random?: () => number
}

const LAST_TRY_MS = 100

/** Runs `fn` until it succeeds, fails for good, or the deadline leaves no room for another try. */
export async function withRetry<T> (fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const base = options.baseDelayMs ?? 200
  const max = options.maxDelayMs ?? 5000
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      if (!(options.retryable ?? isTransient)(err) || attempt + 1 === options.attempts) throw err
      // The last try gets at least LAST_TRY_MS before the deadline; a server asking for a
      // longer pause than the time left is not tried again.
      const remaining = options.deadline - Date.now() - LAST_TRY_MS
      const asked = retryAfterMs(err) ?? 0
      if (remaining <= 0 || asked > remaining) throw err
      const delay = Math.min(Math.max(backoffDelay(attempt, base, max, options.random), asked), remaining)
      options.onRetry?.(apiFailure(err), attempt + 1, delay)
      await sleep(delay)
    }
  }
}
