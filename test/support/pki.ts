// The test authority of every tier and the benchmark: CAs, intermediates and the server and
// client certificates they sign (EC P-256 unless asked, SHA-256), made by src/pki.
import type { KeyPair } from '../../src/core/tls/certs.ts'
import { DAY_MS, parseCertificate } from '../../src/core/tls/x509.ts'
import { issueCertificate } from '../../src/pki/generate.ts'

export type { KeyPair }

/** EC P-256 as `egress-mtls certs` makes them; RSA 2048 as many other issuers (cert-manager's default). */
export type KeyType = 'ec' | 'rsa'

/** A CA; it signs only certificates of its own key type. */
export interface Authority extends KeyPair {
  readonly keyType: KeyType
}

export interface Validity {
  /** Days from now (fractions allowed); negative for the past. */
  readonly validFromDays?: number
  readonly validToDays?: number
}

const daysFromNow = (days: number): Date => new Date(Date.now() + days * DAY_MS)
/** One minute, in days: how far back the webhook's test serving certificates start. */
const MINUTE = 1 / 1440

export interface AuthorityOptions extends Validity {
  /** Makes an intermediate signed by `parent` (and of its key type). */
  readonly parent?: Authority
  readonly keyType?: KeyType
}

/** A CA: self-signed, or an intermediate signed by `parent`; valid from yesterday for ten years by default. */
export async function testAuthority (name = 'egress-mtls test CA', options: AuthorityOptions = {}): Promise<Authority> {
  const keyType = options.parent?.keyType ?? options.keyType ?? 'ec'
  const pair = await issueCertificate({
    commonName: name,
    keyType,
    ca: true,
    ...(options.parent === undefined ? {} : { issuer: options.parent }),
    notBefore: daysFromNow(options.validFromDays ?? -1),
    notAfter: daysFromNow(options.validToDays ?? 3650),
  })
  return { ...pair, keyType }
}

export interface LeafOptions extends Validity {
  readonly commonName?: string
  readonly organization?: string
  /** Default clientAuth; 'none': no extended key usage extension. */
  readonly extKeyUsage?: 'clientAuth' | 'serverAuth' | 'none'
  /** subjectAltNames, in order: IP addresses and DNS names. */
  readonly names?: readonly string[]
}

/** A leaf signed by `ca` (CA:false, digitalSignature); valid from yesterday for a year by default. */
export async function issue (ca: Authority, options: LeafOptions = {}): Promise<KeyPair> {
  const usage = options.extKeyUsage ?? 'clientAuth'
  return issueCertificate({
    commonName: options.commonName ?? 'egress-mtls test client',
    ...(options.organization === undefined ? {} : { organization: options.organization }),
    keyType: ca.keyType,
    issuer: ca,
    notBefore: daysFromNow(options.validFromDays ?? -1),
    notAfter: daysFromNow(options.validToDays ?? 365),
    ...(usage === 'none' ? {} : { extKeyUsage: usage }),
    ...(options.names === undefined ? {} : { altNames: options.names }),
    criticalBasicConstraints: false,
  })
}

/** What the webhook serves in the integration tests and the benchmark: localhost and 127.0.0.1, from a minute ago for `days` days. */
export async function loopbackServer (ca: Authority, days = 30): Promise<KeyPair> {
  return issue(ca, { commonName: 'egress-mtls', extKeyUsage: 'serverAuth', names: ['localhost', '127.0.0.1'], validFromDays: -MINUTE, validToDays: days - MINUTE })
}

/** A target's Secret: a leaf (a client certificate unless `extKeyUsage` says otherwise) and the CA that signed it. */
export interface ClientMaterial extends KeyPair {
  /** The CA that signed it (PEM). */
  readonly cacert: string
  readonly ca: Authority
}

/** A leaf as `issue` makes it, signed by `ca` (default: a new CA). */
export async function clientMaterial (options: LeafOptions & { readonly ca?: Authority } = {}): Promise<ClientMaterial> {
  const ca = options.ca ?? await testAuthority()
  const leaf = await issue(ca, options)
  return { ...leaf, cacert: ca.cert, ca }
}

export const fingerprint = (cert: string): string => parseCertificate(cert).fingerprint256
export const notAfterSeconds = (cert: string): number => parseCertificate(cert).validToDate.getTime() / 1000
