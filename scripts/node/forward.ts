// A byte-for-byte stream forwarder between TCP and Unix sockets, so that the host reaches
// the node tier's API server, which listens only inside the run's network namespace
// (scripts/node/cluster.sh runs one forwarder in each namespace, joined by a Unix socket,
// which lives in the file system and so is seen from both):
//
//   node forward.ts LISTEN TARGET [PORT_FILE]
//   LISTEN, TARGET: tcp:HOST:PORT or unix:PATH (port 0: any free port, written to PORT_FILE)
//
// TLS passes through untouched. Runs until SIGTERM.

import { writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'

type Address = { path: string } | { host: string; port: number }

function parse (spec: string | undefined): Address {
  if (spec?.startsWith('unix:') === true) return { path: spec.slice(5) }
  const m = /^tcp:(.+):(\d+)$/.exec(spec ?? '')
  if (m?.[1] === undefined || m[2] === undefined) {
    process.stderr.write(`forward: bad address ${String(spec)} (tcp:HOST:PORT or unix:PATH)\n`)
    process.exit(2)
  }
  return { host: m[1], port: Number(m[2]) }
}

const [listenSpec, targetSpec, portFile] = process.argv.slice(2)
const listen = parse(listenSpec)
const target = parse(targetSpec)

const server = createServer((client: Socket) => {
  const upstream = connect(target)
  // pipe() ends each side when the other ends, after what is buffered is written (destroying
  // a side on the other's 'close' would cut a response still in flight); an error on one
  // side resets the other.
  client.pipe(upstream).pipe(client)
  client.on('error', () => { upstream.destroy() })
  upstream.on('error', () => { client.destroy() })
})
server.on('error', (err) => {
  process.stderr.write(`forward: ${err.message}\n`)
  process.exit(1)
})
server.listen(listen, () => {
  const addr = server.address()
  const where = typeof addr === 'string' ? addr : `${String(addr?.address)}:${String(addr?.port)}`
  if (portFile !== undefined && addr !== null && typeof addr !== 'string') writeFileSync(portFile, `${String(addr.port)}\n`)
  process.stderr.write(`forward: ${where} -> ${String(targetSpec)}\n`)
})
process.on('SIGTERM', () => { process.exit(0) })
