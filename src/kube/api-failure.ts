// What an API call's failure says, in the API server's own words or the network's.
import { ApiException } from '@kubernetes/client-node'

export interface ApiFailure {
  /** HTTP status, when the API answered. */
  readonly code?: number
  /** metav1.Status reason (NotFound, Conflict, Invalid, ...), when the API said one. */
  readonly reason?: string
  readonly message: string
}

/**
 * What went wrong, in the API's own words (client-node's ApiException.body is raw text), or
 * the network's: undici says only "fetch failed" and keeps the reason in `cause`.
 */
export function apiFailure (err: unknown): ApiFailure {
  if (err instanceof Error && err.name === 'TimeoutError') return { message: 'no answer from the API server before the deadline' }
  if (!(err instanceof ApiException) && err instanceof Error && err.cause instanceof Error) return { message: `${err.message}: ${err.cause.message}` }
  if (err instanceof ApiException) {
    const code = err.code
    const body: unknown = err.body
    let status: { reason?: unknown, message?: unknown } | undefined
    if (typeof body === 'string') {
      try { status = JSON.parse(body) as typeof status } catch { status = undefined }
    } else if (typeof body === 'object' && body !== null) {
      status = body
    }
    const reason = typeof status?.reason === 'string' ? status.reason : undefined
    const message = typeof status?.message === 'string' ? status.message : (typeof body === 'string' && body !== '' ? body : `HTTP ${code}`)
    return reason === undefined ? { code, message } : { code, reason, message }
  }
  const e = err as NodeJS.ErrnoException | undefined
  return { message: e?.code !== undefined ? `${e.code}: ${e.message}` : String(err) }
}
