// Free TCP ports on 127.0.0.1 for the daemons the tests start.
import { createServer } from 'node:net'

/** A free TCP port on 127.0.0.1 (bound and released; a tiny race is accepted). */
export async function freePort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>((res, rej) => {
    srv.once('error', rej)
    srv.listen(0, '127.0.0.1', res)
  })
  const addr = srv.address()
  await new Promise<void>((res) => srv.close(() => { res() }))
  if (addr === null || typeof addr === 'string') throw new Error('cannot allocate a port')
  return addr.port
}

/** `n` distinct free ports. */
export async function distinctPorts (n: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < n) ports.add(await freePort())
  return [...ports]
}
