// Real client certificates for a target's Secret: a CA and a client certificate it signs
// (EC P-256, SHA-256). Used by the doctor tests (unit and end to end).
import { generate } from 'selfsigned'

export interface Authority {
  readonly cert: string
  readonly key: string
}

export interface ClientMaterial {
  /** The client certificate (PEM). */
  readonly cert: string
  readonly key: string
  /** The CA that signed it (PEM). */
  readonly cacert: string
  readonly ca: Authority
}

const DAY_MS = 24 * 60 * 60 * 1000
const common = { keyType: 'ec' as const, curve: 'P-256' as const, algorithm: 'sha256' }

/** A CA: self-signed, or an intermediate signed by `parent`. */
export async function authority (name = 'egress-mtls test CA', parent?: Authority): Promise<Authority> {
  const ca = await generate([{ name: 'commonName', value: name }], {
    ...common,
    ...(parent === undefined ? {} : { ca: parent }),
    notBeforeDate: new Date(Date.now() - DAY_MS),
    notAfterDate: new Date(Date.now() + 3650 * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  })
  return { cert: ca.cert, key: ca.private }
}

export interface ClientOptions {
  readonly ca?: Authority
  /** Days from now; negative for the past. Default -1 and 365. */
  readonly validFromDays?: number
  readonly validToDays?: number
  readonly extKeyUsage?: 'clientAuth' | 'serverAuth'
}

export async function clientMaterial (options: ClientOptions = {}): Promise<ClientMaterial> {
  const ca = options.ca ?? await authority()
  const leaf = await generate([{ name: 'commonName', value: 'egress-mtls test client' }], {
    ...common,
    ca,
    notBeforeDate: new Date(Date.now() + (options.validFromDays ?? -1) * DAY_MS),
    notAfterDate: new Date(Date.now() + (options.validToDays ?? 365) * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', ...(options.extKeyUsage === 'serverAuth' ? { serverAuth: true } : { clientAuth: true }) },
    ],
  })
  return { cert: leaf.cert, key: leaf.private, cacert: ca.cert, ca }
}
