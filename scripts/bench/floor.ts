// The floor of the benchmark: the least an HTTPS admission webhook can do. Bare node:https,
// keep-alive, reads the body, JSON.parse's it and answers a fixed "allowed" review that
// echoes request.uid. Run as its own process, like the webhook it is compared with:
//   node scripts/bench/floor.ts --tls-cert F --tls-key F [--listen 127.0.0.1:0]
// It prints one JSON line {"msg":"listening","https":PORT} and stops on SIGTERM.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:0' },
  },
})
const certFile = values['tls-cert']
const keyFile = values['tls-key']
if (certFile === undefined || keyFile === undefined) {
  process.stderr.write('usage: floor.ts --tls-cert F --tls-key F [--listen HOST:PORT]\n')
  process.exit(2)
}
const [host = '127.0.0.1', port = '0'] = values.listen.split(/:(?=[^:]*$)/)

const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' }, (req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    let uid = ''
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: { uid?: unknown } }
      uid = typeof body.request?.uid === 'string' ? body.request.uid : ''
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('not JSON')
      return
    }
    const answer = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":${JSON.stringify(uid)},"allowed":true}}`
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer)
  })
})
server.keepAliveTimeout = 65_000
server.listen(Number(port), host, () => {
  process.stdout.write(`${JSON.stringify({ msg: 'listening', https: (server.address() as AddressInfo).port })}\n`)
})
process.once('SIGTERM', () => {
  server.close(() => process.exit(0))
  server.closeIdleConnections()
})
