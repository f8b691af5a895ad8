// Listen addresses in Go's notation (`:8443`, `127.0.0.1:8443`, `[::1]:8443`), and
// listening on them.
import { once } from 'node:events'
import type { AddressInfo, Server } from 'node:net'

import { cliError, cliErrorFrom } from '../errors.ts'

export interface ListenAddress {
  /** Absent: every interface (IPv6 and IPv4 where available). */
  readonly host?: string
  readonly port: number
}

export function parseListenAddress (value: string, flag: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value)
  const port = Number(m?.[3])
  if (m === null || port > 65535) {
    throw cliError('EMTLS_CLI_LISTEN_ADDRESS', flag, value)
  }
  const host = m[1] ?? m[2]
  return host === undefined || host === '' ? { port } : { host, port }
}

/** Listens and resolves to the bound port. */
export async function listen (server: Server, address: ListenAddress, flag: string): Promise<number> {
  // Without a host, Node binds `::` (dual stack) or falls back to 0.0.0.0 when IPv6 is off.
  if (address.host === undefined) server.listen(address.port)
  else server.listen(address.port, address.host)
  try {
    await once(server, 'listening')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    throw cliErrorFrom(err, 'EMTLS_CLI_LISTEN_FAILED', flag, `${address.host ?? ''}:${address.port}`, code)
  }
  return (server.address() as AddressInfo).port
}
