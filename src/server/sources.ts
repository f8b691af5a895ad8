// Connections per client address (issue 25, "Slow clients"): one source must not hold all
// the webhook port's connections. kube-apiserver instances each connect from an address of
// their own, so the cap per source leaves the other instances (and the other clients) room.
import type { Server } from 'node:net'

/**
 * A quarter of the default connection cap: a kube-apiserver instance under heavy load
 * rarely has more than a few dozen reviews in flight to one webhook pod, so it stays far
 * below; a tenant's pod that reaches the port (see the chart's NetworkPolicy) cannot fill it.
 * Behind a NAT or a konnectivity proxy every API server shares one address: raise it there
 * (`serve --max-connections-per-source`).
 */
export const MAX_CONNECTIONS_PER_SOURCE = 250

export interface Sources {
  /** Open connections, all sources together (those refused here not counted). */
  readonly total: () => number
}

/** Closes at once every connection beyond `max` from one address, calling `refused` for each. */
export function capPerSource (server: Server, max: number, refused: () => void): Sources {
  const open = new Map<string, number>()
  let total = 0
  server.on('connection', (socket: import('node:net').Socket) => {
    const address = socket.remoteAddress ?? ''
    const count = open.get(address) ?? 0
    if (count >= max) {
      refused()
      socket.destroy()
      return
    }
    open.set(address, count + 1)
    total++
    socket.once('close', () => {
      total--
      const left = (open.get(address) ?? 1) - 1
      if (left === 0) open.delete(address)
      else open.set(address, left)
    })
  })
  return { total: () => total }
}
