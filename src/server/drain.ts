// Draining keep-alive connections without racing the client's next request.
//
// Node's server.close() (and Fastify's forceCloseConnections: 'idle') closes every connection
// idle at that instant. A busy keep-alive client is "idle" between an answer and its next
// review, so closing it then resets the review it is sending: kube-apiserver sees a failed
// call. Instead, only connections idle for IDLE_GRACE_MS are closed (a sweep repeats this
// while draining); a busy one gets its next review answered with `Connection: close` and
// moves to another replica.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Server } from 'node:https'
import type { Socket } from 'node:net'

/** Longer than a busy client's pause between two reviews, far shorter than "at once" to a person. */
export const IDLE_GRACE_MS = 250

interface Usage {
  active: number
  idleSince: number
}

export interface Drain {
  /** Destroys the connections with no review in progress for at least `graceMs`. */
  closeIdle: (graceMs?: number) => void
}

export function trackConnections (server: Server): Drain {
  const usage = new Map<Socket, Usage>()
  server.on('secureConnection', (socket: Socket) => {
    usage.set(socket, { active: 0, idleSince: performance.now() })
    socket.once('close', () => usage.delete(socket))
  })
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const u = usage.get(req.socket)
    if (u === undefined) return
    u.active++
    res.once('close', () => { u.active--; u.idleSince = performance.now() })
  })
  const closeIdleNow = (graceMs: number): void => {
    const now = performance.now()
    for (const [socket, u] of usage) if (u.active === 0 && now - u.idleSince >= graceMs) socket.destroy()
  }
  // Judged only after the input already waiting has been read (setImmediate runs after the
  // event loop's poll phase): after a stall of the loop (GC, a busy machine), a review that
  // sits unread in a socket has become a request in progress by then, not an idle connection.
  const closeIdle = (graceMs = IDLE_GRACE_MS): void => { setImmediate(closeIdleNow, graceMs) }
  // Node's close() calls this method of the instance: it gets the grace too.
  server.closeIdleConnections = () => { closeIdle() }
  return { closeIdle }
}
