// A TCP forwarder in front of a test API server (TLS passes through it untouched), with a
// kubeconfig that reaches the server through it: how many connections a client opened, and
// a way to cut them all.
import { connect, createServer, type Socket } from 'node:net'

import { KubeConfig } from '@kubernetes/client-node'

export interface Forwarder {
  /** `kc` with every cluster's server replaced by the forwarder. */
  readonly kubeconfig: KubeConfig
  /** Connections accepted so far. */
  accepted: () => number
  /** Destroys every connection open now (both sides). */
  cut: () => void
  /** Stops carrying bytes on every connection open now, without closing them: a silent network failure. */
  freeze: () => void
  close: () => Promise<void>
}

export async function tcpForwarder (kc: KubeConfig): Promise<Forwarder> {
  const target = new URL(kc.getCurrentCluster()?.server ?? '')
  const sockets = new Set<Socket>()
  const pairs = new Set<[Socket, Socket]>()
  let accepted = 0
  const server = createServer((client) => {
    accepted++
    const upstream = connect(Number(target.port), target.hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => { sockets.delete(s) })
      s.on('error', () => { client.destroy(); upstream.destroy() })
    }
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    client.on('close', () => { pairs.delete(pair) })
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const address = server.address()
  if (address === null || typeof address !== 'object') throw new Error('the forwarder has no port')
  const kubeconfig = new KubeConfig()
  kubeconfig.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${address.port}` })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.getCurrentContext(),
  })
  const cut = (): void => { for (const s of sockets) s.destroy() }
  return {
    kubeconfig,
    accepted: () => accepted,
    cut,
    freeze: () => {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream)
        upstream.unpipe(client)
        client.pause()
        upstream.pause()
      }
    },
    close: async () => {
      cut()
      await new Promise((resolve) => { server.close(resolve) })
    },
  }
}
