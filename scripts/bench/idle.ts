// Idle connections (issue 11): the memory `serve` holds per idle keep-alive connection, and
// what happens when more connections come than its cap allows. Each connection is opened
// as kube-apiserver's are: a TLS handshake, one review answered, then kept open idle.
import { connect, type TLSSocket } from 'node:tls'

import { httpGet, metricSum } from '../../test/support/metrics-port.ts'
import { type Listening, procStatusBytes } from '../../test/support/serve.ts'

export interface IdleFigures {
  readonly attempted: number
  /** Connections that got their review answered and stay open. */
  readonly accepted: number
  /** Connections the server closed before or during the handshake. */
  readonly refused: number
  /** Server RSS after warm-up, with the connections open, in bytes. */
  readonly rssBefore: number
  readonly rssAfter: number
  /** egress_mtls_http_rejections_total{reason="connection_limit"} at the end (a server with a metrics port). */
  readonly counted?: number
  /** /healthz still answered with every connection open (a server with a metrics port). */
  readonly healthy?: boolean
  /** Milliseconds to open every connection. */
  readonly openMs: number
}

/** One idle keep-alive connection after one answered review, or undefined when refused. */
function idleConnection (port: number, ca: string, request: string): Promise<TLSSocket | undefined> {
  return new Promise((resolve) => {
    let received = ''
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => { socket.write(request) })
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      received += chunk
      const head = received.indexOf('\r\n\r\n')
      const length = /content-length: (\d+)/i.exec(received)
      if (head >= 0 && length !== null && received.length >= head + 4 + Number(length[1])) {
        if (received.startsWith('HTTP/1.1 200')) resolve(socket)
        else { socket.destroy(); resolve(undefined) }
      }
    })
    socket.on('error', () => { socket.destroy(); resolve(undefined) })
    socket.on('close', () => { resolve(undefined) })
  })
}

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Starts a server (serve, or the floor), opens `attempted` idle connections (`batch`
 * handshakes at a time) and measures. Every connection is closed, and the server stopped,
 * before returning.
 */
export async function idleConnections (
  start: () => Promise<Listening>, ca: string, body: string, attempted: number, batch = 50,
): Promise<IdleFigures> {
  const server = await start()
  const sockets: TLSSocket[] = []
  try {
    const request = `POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    // Warm-up: the code paths of a review and of a handshake are loaded before the baseline.
    for (let i = 0; i < 20; i++) (await idleConnection(server.https, ca, request))?.destroy()
    await settle(1000)
    const rssBefore = await procStatusBytes(server.pid, 'VmRSS') ?? Number.NaN
    let refused = 0
    const started = performance.now()
    for (let i = 0; i < attempted; i += batch) {
      const size = Math.min(batch, attempted - i)
      const opened = await Promise.all(Array.from({ length: size }, () => idleConnection(server.https, ca, request)))
      for (const s of opened) if (s === undefined) refused++; else sockets.push(s)
    }
    const openMs = performance.now() - started
    await settle(1000)
    const rssAfter = await procStatusBytes(server.pid, 'VmRSS') ?? Number.NaN
    const figures = { attempted, accepted: sockets.length, refused, rssBefore, rssAfter, openMs }
    if (server.metrics === undefined) return figures
    const metrics = await httpGet(server.metrics, '/metrics')
    return {
      ...figures,
      counted: metricSum(metrics.body, 'egress_mtls_http_rejections_total', { reason: 'connection_limit' }),
      healthy: (await httpGet(server.metrics, '/healthz')).status === 200,
    }
  } finally {
    for (const s of sockets) s.destroy()
    await server.stop()
  }
}

const MB = 1024 * 1024
const kb = (bytes: number): string => (bytes / 1024).toFixed(0)
const mb = (bytes: number): string => (bytes / MB).toFixed(1)

export interface IdleServers {
  /** serve with `--max-connections N`. */
  readonly serve: (maxConnections: number) => Promise<Listening>
  readonly floor: () => Promise<Listening>
}

/**
 * The bench's idle-connection rows: `attempted` idle connections to the floor, to serve with
 * room for all of them, and to serve with its default cap (`cap`), which refuses the rest.
 */
export async function idleReport (servers: IdleServers, ca: string, body: string, attempted: number, cap: number): Promise<string[]> {
  const lines = [`idle keep-alive connections (TLS handshake, one review answered, then left open; ${attempted} opened 50 at a time):`]
  const row = (name: string, f: IdleFigures): string => {
    const per = (f.rssAfter - f.rssBefore) / Math.max(f.accepted, 1)
    return `  ${name.padEnd(34)} ${String(f.accepted).padStart(5)} open, ${String(f.refused).padStart(5)} refused` +
      `${f.counted === undefined ? '' : ` (counted ${f.counted})`}; RSS ${mb(f.rssBefore)} -> ${mb(f.rssAfter)} MB, ${kb(per)} KiB per open connection` +
      `${f.healthy === undefined ? '' : `; /healthz ${f.healthy ? 'answered' : 'FAILED'}`}; opened in ${(f.openMs / 1000).toFixed(1)} s`
  }
  lines.push(row('floor (bare node:https, no cap)', await idleConnections(servers.floor, ca, body, attempted)))
  lines.push(row(`webhook, --max-connections ${2 * attempted}`, await idleConnections(() => servers.serve(2 * attempted), ca, body, attempted)))
  lines.push(row(`webhook, default cap ${cap}`, await idleConnections(() => servers.serve(cap), ca, body, attempted)))
  return lines
}
