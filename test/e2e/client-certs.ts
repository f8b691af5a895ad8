// Real client certificates for a target's Secret: a CA and a client certificate it signs
// (EC P-256, SHA-256), and server certificates the same way. Used by the doctor and probe
// tests (unit, integration and end to end).
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

export interface Validity {
  /** Days from now; negative for the past. */
  readonly validFromDays?: number
  readonly validToDays?: number
}

/** A CA: self-signed, or an intermediate signed by `parent`; valid from yesterday for ten years by default. */
export async function authority (name = 'egress-mtls test CA', parent?: Authority, validity: Validity = {}): Promise<Authority> {
  const ca = await generate([{ name: 'commonName', value: name }], {
    ...common,
    ...(parent === undefined ? {} : { ca: parent }),
    notBeforeDate: new Date(Date.now() + (validity.validFromDays ?? -1) * DAY_MS),
    notAfterDate: new Date(Date.now() + (validity.validToDays ?? 3650) * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  })
  return { cert: ca.cert, key: ca.private }
}

export interface ClientOptions extends Validity {
  /** Default: a new CA. Validity default: -1 and 365 days. */
  readonly ca?: Authority
  /** Default clientAuth; 'none': no extended key usage extension. */
  readonly extKeyUsage?: 'clientAuth' | 'serverAuth' | 'none'
  readonly commonName?: string
  /** DNS names (a server certificate's subjectAltName). */
  readonly dnsNames?: readonly string[]
}

export async function clientMaterial (options: ClientOptions = {}): Promise<ClientMaterial> {
  const ca = options.ca ?? await authority()
  const leaf = await generate([{ name: 'commonName', value: options.commonName ?? 'egress-mtls test client' }], {
    ...common,
    ca,
    notBeforeDate: new Date(Date.now() + (options.validFromDays ?? -1) * DAY_MS),
    notAfterDate: new Date(Date.now() + (options.validToDays ?? 365) * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      ...(options.extKeyUsage === 'none' ? [] : [{ name: 'extKeyUsage' as const, ...(options.extKeyUsage === 'serverAuth' ? { serverAuth: true } : { clientAuth: true }) }]),
      ...(options.dnsNames === undefined ? [] : [{ name: 'subjectAltName' as const, altNames: options.dnsNames.map((value) => ({ type: 2 as const, value })) }]),
    ],
  })
  return { cert: leaf.cert, key: leaf.private, cacert: ca.cert, ca }
}
