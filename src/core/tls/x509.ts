// PEM and X.509 helpers: the one place that parses certificates and keys, for `certs` (the
// webhook's own certificates), `doctor`, `probe` (a target's client certificate and the
// server's CA) and the shells. Pure: node:crypto parses and verifies, nothing is read or written.
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto'

export const DAY_MS = 24 * 60 * 60 * 1000
export const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
export const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0'
const USAGE_NAMES: Readonly<Record<string, string>> = {
  [SERVER_AUTH]: 'serverAuth',
  [CLIENT_AUTH]: 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  [ANY_EXTENDED_KEY_USAGE]: 'anyExtendedKeyUsage',
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

export interface ParsedBundle {
  readonly certs: readonly X509Certificate[]
  /** PEM CERTIFICATE blocks that do not parse. */
  readonly unparsable: number
  /** Why the text is not a clean PEM bundle, if it is not. */
  readonly problem?: string
}

/** The first certificate of PEM text (or DER bytes); throws node:crypto's error when there is none. */
export function parseCertificate (pem: string | Buffer): X509Certificate {
  return new X509Certificate(pem)
}

/** The certificates of a PEM bundle, in order, and whether anything in it is not one. */
export function parseBundle (text: string | undefined): ParsedBundle {
  if (text === undefined || text.trim() === '') return { certs: [], unparsable: 0, problem: 'is empty' }
  const certs: X509Certificate[] = []
  let bad = 0
  for (const block of text.match(PEM_CERT) ?? []) {
    try { certs.push(new X509Certificate(block)) } catch { bad++ }
  }
  const unparsable = bad
  if (text.replace(PEM_CERT, '').trim() !== '') bad++
  if (bad === 0) return { certs, unparsable }
  return { certs, unparsable, problem: certs.length === 0 ? 'holds no PEM certificate' : 'holds text that is not a PEM certificate' }
}

/** Two PEM blocks on one line (`cat a.crt b.crt` when a.crt lacks its last newline): node:crypto reads both, OpenSSL neither. */
export function pemBlocksRunTogether (text: string): boolean {
  return /-----END CERTIFICATE-----[ \t]*-----BEGIN CERTIFICATE-----/.test(text)
}

/** A PEM private key; undefined when the text is empty or not one. */
export function parseKey (text: string | undefined): KeyObject | undefined {
  if (text === undefined || text.trim() === '') return undefined
  try { return createPrivateKey(text) } catch { return undefined }
}

export function keyMatches (cert: X509Certificate, key: KeyObject): boolean {
  try { return cert.checkPrivateKey(key) } catch { return false }
}

/** `child` was signed by `parent`. */
export function signedBy (child: X509Certificate, parent: X509Certificate): boolean {
  try { return child.checkIssued(parent) && child.verify(parent.publicKey) } catch { return false }
}

export const sameCert = (a: X509Certificate, b: X509Certificate): boolean => a.fingerprint256 === b.fingerprint256

export const selfSigned = (cert: X509Certificate): boolean => signedBy(cert, cert)

/** The extended key usages by name (OIDs Node does not name stay OIDs); undefined without the extension. */
export function extendedKeyUsages (cert: X509Certificate): readonly string[] | undefined {
  // Node calls the extended key usages `keyUsage`; undefined when the extension is absent.
  const oids = cert.keyUsage as readonly string[] | undefined
  return oids?.map((o) => USAGE_NAMES[o] ?? o)
}

/** The certificate may authenticate a TLS client: no extended key usage, or one with clientAuth (or any). */
export function allowsClientAuth (cert: X509Certificate): boolean {
  const usages = extendedKeyUsages(cert)
  return usages === undefined || usages.includes('clientAuth') || usages.includes('anyExtendedKeyUsage')
}

/** The subjectAltName entries as Node prints them: `DNS:a.example.com`, `IP Address:127.0.0.1`, `URI:spiffe://...`. */
export function subjectAltNames (cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '').split(', ').filter((s) => s !== '')
}

/**
 * The certificate names `name` as Envoy's SAN matchers see it: a DNS name matched against
 * the DNS SANs (a `*.` wildcard stands for exactly one leftmost label; the subject's CN is
 * never used), an IP address against the IP SANs, anything else (a URI) exactly.
 */
export function certificateNames (cert: X509Certificate, name: string): boolean {
  if (/^[0-9.]+$/.test(name) || (name.includes(':') && !name.includes('/'))) {
    try { return cert.checkIP(name) !== undefined } catch { return false }
  }
  if (name.includes('/')) return subjectAltNames(cert).includes(`URI:${name}`)
  return cert.checkHost(name, { subject: 'never', wildcards: true, partialWildcards: false, multiLabelWildcards: false }) !== undefined
}

export const date = (d: Date): string => d.toISOString().slice(0, 10)

/** Whole days from `now` to the end of the certificate's validity (negative once expired). */
export const daysLeft = (cert: X509Certificate, now: Date): number =>
  Math.floor((cert.validToDate.getTime() - now.getTime()) / DAY_MS)

/** The subject on one line: `CN=bank CA, O=Bank`. */
export const subjectOf = (cert: X509Certificate): string => cert.subject.replace(/\n/g, ', ')

/** "'CN=...' (until 2036-11-24)": how log lines name a certificate. */
export function describe (cert: X509Certificate): string {
  return `'${subjectOf(cert)}' (until ${date(cert.validToDate)})`
}
