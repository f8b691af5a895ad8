// Request bodies in memory (issue 25, "Buffered bodies" and "Slow clients"): every review
// body is held whole until it is parsed and answered, so the bytes that bodies in flight hold
// TOGETHER are bounded by one budget (a body that would go beyond it is shed with 503), each
// body by BODY_LIMIT (413), and the time from a request's headers to its last body byte by
// a short deadline (408), so that a slow sender holds neither memory nor a connection long.
import type { IncomingMessage } from 'node:http'

/**
 * What one AdmissionReview may need. kube-apiserver refuses request bodies over 3 MiB
 * (its MaxRequestBodyBytes) and etcd stores objects of at most 1.5 MiB (its default
 * --max-request-bytes): an object under review is at most ~3 MiB of JSON. An UPDATE carries
 * it twice (`object` and `oldObject`), with an envelope (uid, kind, userInfo, options) of a
 * few kilobytes: 2 x 3 MiB + 64 KiB.
 */
export const BODY_LIMIT = 2 * 3 * 1024 * 1024 + 64 * 1024

/**
 * The bytes of request bodies in flight, all requests together: 24 MiB, about four of the
 * largest reviews at once, far more than kube-apiserver's usual reviews of kilobytes. With
 * the JSON parsed from one of them at a time (parsing is synchronous), this keeps a webhook
 * of ~125 MB far inside the chart's 256 MiB limit whatever clients send.
 */
export const BODY_BUDGET = 24 * 1024 * 1024

/**
 * Kept for small bodies (up to SMALL_BODY each) when the budget is spent: 4 MiB, so that
 * ordinary reviews (kilobytes; the annotations of an object are at most 256 KiB) are still
 * answered while large bodies fill the budget.
 */
export const SMALL_BODY_RESERVE = 4 * 1024 * 1024
export const SMALL_BODY = 256 * 1024

/** The deadline from a request's last header to its last body byte: kube-apiserver sends a review at once. */
export const BODY_TIMEOUT_MS = 5_000

/** An error answered with its status: 413 (one body too big), 503 (the budget is spent), 408 (too slow), 400. */
export class BodyError extends Error {
  readonly statusCode: 400 | 408 | 413 | 503
  readonly reason: 'payload_too_large' | 'body_budget' | 'request_timeout' | 'client_closed'
  constructor (statusCode: BodyError['statusCode'], message: string, reason: BodyError['reason']) {
    super(message)
    this.statusCode = statusCode
    this.reason = reason
  }
}

export interface BodyBudget {
  /** The bytes held now (the budget and the reserve for small bodies together). */
  readonly held: () => number
  /** Reads a request's body within the limits; the bytes stay counted until `release()`. */
  read: (req: IncomingMessage) => { readonly body: Promise<Buffer>, readonly release: () => void }
}

export interface BodyLimits {
  readonly bodyLimit: number
  readonly budget: number
  readonly timeoutMs: number
}

export function createBodyBudget ({ bodyLimit, budget, timeoutMs }: BodyLimits): BodyBudget {
  let held = 0
  let reserved = 0
  return {
    held: () => held + reserved,
    read (req) {
      let mine = 0
      let mineReserved = 0
      let released = false
      const release = (): void => {
        if (released) return
        released = true
        held -= mine - mineReserved
        reserved -= mineReserved
        mine = 0
        mineReserved = 0
      }
      const body = new Promise<Buffer>((resolve, reject) => {
        const declared = Number(req.headers['content-length'])
        const chunks: Buffer[] = []
        const finish = (err: BodyError | undefined): void => {
          clearTimeout(timer)
          req.off('data', onData).off('end', onEnd).off('aborted', onGone).off('error', onGone).off('close', onClose)
          if (err === undefined) {
            resolve(chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, mine))
            return
          }
          // What was received is dropped at once; the rest is not read.
          chunks.length = 0
          release()
          reject(err)
        }
        const onData = (chunk: Buffer): void => {
          if (mine + chunk.length > bodyLimit) { finish(new BodyError(413, `body larger than ${bodyLimit} bytes`, 'payload_too_large')); return }
          if (held + chunk.length <= budget) {
            held += chunk.length
          } else if (mine + chunk.length <= SMALL_BODY && reserved + chunk.length <= SMALL_BODY_RESERVE) {
            reserved += chunk.length
            mineReserved += chunk.length
          } else {
            finish(new BodyError(503, `request bodies in flight hold ${held + reserved} bytes: over the webhook's budget of ${budget} bytes`, 'body_budget'))
            return
          }
          mine += chunk.length
          chunks.push(chunk)
        }
        const onEnd = (): void => { finish(undefined) }
        const onGone = (): void => { finish(new BodyError(400, 'the client closed the request before its body ended', 'client_closed')) }
        const onClose = (): void => { if (!req.complete) onGone() }
        const timer = setTimeout(() => { finish(new BodyError(408, `body not received within ${timeoutMs} ms of the headers`, 'request_timeout')) }, timeoutMs)
        timer.unref()
        if (Number.isFinite(declared) && declared > bodyLimit) {
          finish(new BodyError(413, `body larger than ${bodyLimit} bytes`, 'payload_too_large'))
          return
        }
        req.on('data', onData).on('end', onEnd).on('aborted', onGone).on('error', onGone).on('close', onClose)
      })
      // The caller releases once the answer is sent; a body refused is released here.
      return { body, release }
    },
  }
}
