// Draining keep-alive connections without racing the client's next request, and cutting
// the connections no review can come from.
//
// Node's server.close() (and Fastify's forceCloseConnections: 'idle') closes every connection
// idle at that instant. A busy keep-alive client is "idle" between an answer and its next
// review, so closing it then resets the review it is sending: kube-apiserver sees a failed
// call. Instead, only connections idle for IDLE_GRACE_MS are closed (a sweep repeats this
// while draining); a busy one gets its next review answered with `Connection: close` and
// moves to another replica.
//
// Sockets still in the TLS handshake are not HTTP connections yet: server.close() waits for
// them and closeAllConnections() does not see them, so one TCP connection that never sends a
// ClientHello would hold the process until the handshake timeout. They are tracked from
// the TCP accept and destroyed as soon as draining starts.
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
  /** Destroys the sockets whose TLS handshake has not completed. */
  closeHandshaking: () => void
  /** Destroys every socket, in the handshake or not. */
  closeAll: () => void
  /** Requests whose headers arrived and whose answer is not sent yet (egress_mtls_requests_in_flight). */
  inFlight: () => number
}

// The TCP socket and the TLS socket built on it share their addresses: the pair of the
// client's address and port names one connection of a listening server.
const peer = (socket: Socket): string => `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}`

export function trackConnections (server: Server): Drain {
  const usage = new Map<Socket, Usage>()
  /** Accepted TCP sockets by peer, and the peers whose TLS handshake completed. */
  const tcp = new Map<string, Socket>()
  const secure = new Set<string>()
  server.on('connection', (socket: Socket) => {
    const key = peer(socket)
    tcp.set(key, socket)
    socket.once('close', () => { if (tcp.get(key) === socket) tcp.delete(key) })
  })
  server.on('secureConnection', (socket: Socket) => {
    const key = peer(socket)
    secure.add(key)
    usage.set(socket, { active: 0, idleSince: performance.now() })
    socket.once('close', () => { usage.delete(socket); secure.delete(key) })
  })
  // The one listener per request of the webhook port (the in-flight gauge reads `active` too).
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
  return {
    closeIdle,
    closeHandshaking () { for (const [key, socket] of tcp) if (!secure.has(key)) socket.destroy() },
    closeAll () {
      server.closeAllConnections()
      for (const socket of tcp.values()) socket.destroy()
    },
    inFlight () {
      let n = 0
      for (const u of usage.values()) n += u.active
      return n
    },
  }
}
