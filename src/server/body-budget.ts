// Request bodies in memory (issue 25, "Buffered bodies" and "Slow clients"): every review
// body is held whole until it is parsed and answered, so the bytes that bodies in flight hold
// TOGETHER are bounded by one budget (a body that would go beyond it is shed with 503), each
// body by BODY_LIMIT (413), and the time from a request's headers to its last body byte by
// a short deadline (408), so that a slow sender holds neither memory nor a connection long.
import type { IncomingMessage } from 'node:http'
import { performance } from 'node:perf_hooks'

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

/**
 * How often, per body deadline, the bodies still arriving are checked against it: a body
 * too slow is refused at most a tenth of the deadline after it (5.5 s by default). One timer
 * for all of them, running only while some body is pending, instead of one per request.
 */
export const SWEEPS_PER_TIMEOUT = 10

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
  /**
   * Reads a request's body within the limits and calls `done` once: with the body, or with
   * the BodyError that refused it (what was received is dropped before, the rest not read).
   * The body's bytes stay counted until `done` returns: the caller parses and answers
   * within it. The body is the caller's until `done` returns, to read or change in place:
   * nothing else reads it meanwhile (Node's HTTP parser copies every body chunk into a buffer
   * of its own). After that it is not: a body of several chunks up to JOIN_BYTES is joined
   * into a buffer the budget keeps and reuses for the next one, so nothing may keep the body,
   * or a view of it, once `done` has returned (JSON.parse's strings are copies).
   */
  read: (req: IncomingMessage, done: (body: Buffer | BodyError) => void) => void
}

export interface BodyLimits {
  readonly bodyLimit: number
  readonly budget: number
  readonly timeoutMs: number
}

/**
 * Bodies of several chunks up to this size are joined into one buffer kept for it, not a
 * new one each (an allocation of ~20 KB and its collection cost several times the copy).
 */
export const JOIN_BYTES = SMALL_BODY

/** A body still arriving: when it is too late, and how it is refused then. */
interface Pending {
  readonly deadline: number
  readonly expire: () => void
}

export function createBodyBudget ({ bodyLimit, budget, timeoutMs }: BodyLimits): BodyBudget {
  let held = 0
  let reserved = 0
  // The bodies still arriving, in the order they started, hence of their deadlines.
  const pending = new Set<Pending>()
  let sweeper: NodeJS.Timeout | undefined
  const sweep = (): void => {
    const now = performance.now()
    for (const body of pending) {
      if (body.deadline > now) break
      body.expire()
    }
    if (pending.size === 0) {
      clearInterval(sweeper)
      sweeper = undefined
    }
  }
  const period = Math.max(1, Math.ceil(timeoutMs / SWEEPS_PER_TIMEOUT))
  let joined: Buffer | undefined
  let joinedLent = false
  /** A body's chunks as one buffer: the only one, the buffer kept for joining, or a new one. */
  const join = (chunks: readonly Buffer[], length: number): Buffer => {
    if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0]
    if (length > JOIN_BYTES || joinedLent) return Buffer.concat(chunks, length)
    joined ??= Buffer.allocUnsafeSlow(JOIN_BYTES)
    let at = 0
    for (const chunk of chunks) {
      joined.set(chunk, at)
      at += chunk.length
    }
    return joined.subarray(0, length)
  }
  return {
    held: () => held + reserved,
    read (req, done) {
      if (Number(req.headers['content-length']) > bodyLimit) {
        done(new BodyError(413, `body larger than ${bodyLimit} bytes`, 'payload_too_large'))
        return
      }
      let chunks: Buffer[] = []
      let mine = 0
      let mineReserved = 0
      let open = true
      const release = (): void => {
        held -= mine - mineReserved
        reserved -= mineReserved
        mine = 0
        mineReserved = 0
      }
      // Listeners stay on the request once the body is settled (removing them costs more
      // than the checks of `open`): a refused body's later chunks are read and dropped.
      const refuse = (err: BodyError): void => {
        open = false
        pending.delete(me)
        chunks = []
        release()
        done(err)
      }
      const me: Pending = {
        deadline: performance.now() + timeoutMs,
        expire: () => { refuse(new BodyError(408, `body not received within ${timeoutMs} ms of the headers`, 'request_timeout')) },
      }
      const onData = (chunk: Buffer): void => {
        if (!open) return
        if (mine + chunk.length > bodyLimit) { refuse(new BodyError(413, `body larger than ${bodyLimit} bytes`, 'payload_too_large')); return }
        if (held + chunk.length <= budget) {
          held += chunk.length
        } else if (mine + chunk.length <= SMALL_BODY && reserved + chunk.length <= SMALL_BODY_RESERVE) {
          reserved += chunk.length
          mineReserved += chunk.length
        } else {
          refuse(new BodyError(503, `request bodies in flight hold ${held + reserved} bytes: over the webhook's budget of ${budget} bytes`, 'body_budget'))
          return
        }
        mine += chunk.length
        chunks.push(chunk)
      }
      const onEnd = (): void => {
        if (!open) return
        open = false
        pending.delete(me)
        const body = join(chunks, mine)
        chunks = []
        const lent = body.buffer === joined?.buffer
        if (lent) joinedLent = true
        try {
          done(body)
        } finally {
          release()
          if (lent) joinedLent = false
        }
      }
      // A request's 'close' comes after its 'end' (Node destroys a request once read), or
      // instead of it when the connection ends first ('aborted' and 'error' come with that
      // 'close', the latter only when listened to): one listener sees a client gone.
      const onClose = (): void => {
        if (open) refuse(new BodyError(400, 'the client closed the request before its body ended', 'client_closed'))
      }
      req.on('data', onData).on('end', onEnd).on('close', onClose)
      pending.add(me)
      if (sweeper === undefined) {
        sweeper = setInterval(sweep, period)
        sweeper.unref()
      }
    },
  }
}
