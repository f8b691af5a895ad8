// The floor of the benchmark: the least an HTTPS admission webhook can do. Bare node:https,
// keep-alive, reads the body, JSON.parse's it and answers a fixed "allowed" review that
// echoes request.uid. Run as its own process, like the webhook it is compared with:
//   node scripts/bench/floor.ts --tls-cert F --tls-key F [--listen 127.0.0.1:0] [--fastify]
// It prints one JSON line {"msg":"listening","https":PORT} and stops on SIGTERM.
// --fastify: the same answer from Fastify set up as src/server/app.ts sets it up (options,
// body parser), deciding nothing: the framework's own cost (`npm run bench -- --floor fastify`).
import { readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:0' },
    fastify: { type: 'boolean', default: false },
  },
})
const certFile = values['tls-cert']
const keyFile = values['tls-key']
if (certFile === undefined || keyFile === undefined) {
  process.stderr.write('usage: floor.ts --tls-cert F --tls-key F [--listen HOST:PORT]\n')
  process.exit(2)
}
const [host = '127.0.0.1', port = '0'] = values.listen.split(/:(?=[^:]*$)/)
const tls = { cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' } as const
const uidOf = (body: unknown): string => {
  const uid = (body as { request?: { uid?: unknown } } | null)?.request?.uid
  return typeof uid === 'string' ? uid : ''
}
const answer = (uid: string): string => `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":${JSON.stringify(uid)},"allowed":true}}`
const listening = (p: number): void => { process.stdout.write(`${JSON.stringify({ msg: 'listening', https: p })}\n`) }

if (values.fastify) {
  const { default: Fastify } = await import('fastify')
  const noSchemas = (): never => { throw new Error('no schemas') }
  const app = Fastify({
    https: tls,
    bodyLimit: 7 * 1024 * 1024,
    schemaController: { compilersFactory: { buildValidator: noSchemas, buildSerializer: noSchemas } },
    logger: false,
    return503OnClosing: false,
    keepAliveTimeout: 120_000,
    requestTimeout: 60_000,
  })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string))
    } catch {
      done(Object.assign(new Error('not JSON'), { statusCode: 400 }), undefined)
    }
  })
  app.post('/mutate', (request, reply) => { void reply.type('application/json; charset=utf-8').send(answer(uidOf(request.body))) })
  await app.listen({ host, port: Number(port) })
  listening((app.server.address() as AddressInfo).port)
  process.once('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
} else {

  const server = createServer(tls, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let body: unknown
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('not JSON')
        return
      }
      const text = answer(uidOf(body))
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
    })
  })
  server.keepAliveTimeout = 65_000
  server.listen(Number(port), host, () => { listening((server.address() as AddressInfo).port) })
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0))
    server.closeIdleConnections()
  })
}
