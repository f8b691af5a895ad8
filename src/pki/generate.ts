// Certificate generation, with `selfsigned` 5 (async): the webhook's own CA and the serving
// leaf it signs, the in-memory certificate of `serve --self-signed`, and (through
// issueCertificate) the test authority of test/support/pki.ts. EC P-256 by default, always
// SHA-256 signatures: selfsigned defaults to SHA-1, which Go's TLS (hence kube-apiserver)
// rejects, and signs only with a CA of the same key type.
import { isIP } from 'node:net'

import { generate } from 'selfsigned'

import type { KeyPair } from '../core/tls/certs.ts'
import { DAY_MS, parseCertificate } from '../core/tls/x509.ts'

/**
 * notBefore is set this far in the past, so that an API server whose clock is a little
 * behind the clock of the machine that made the certificate still accepts it (kubeadm
 * backdates by the same amount).
 */
export const BACKDATE_MS = 5 * 60 * 1000

export interface CertificateSpec {
  readonly commonName: string
  readonly organization?: string
  /** EC P-256 (default) or RSA 2048. */
  readonly keyType?: 'ec' | 'rsa'
  readonly notBefore: Date
  readonly notAfter: Date
  /** The CA that signs it (of the same key type); self-signed without. */
  readonly issuer?: KeyPair
  /** A CA: CA:true, keyCertSign and cRLSign. Otherwise CA:false and digitalSignature. */
  readonly ca?: boolean
  readonly extKeyUsage?: 'serverAuth' | 'clientAuth'
  /** The subjectAltNames in order: IP addresses as IP SANs, anything else as DNS names. */
  readonly altNames?: readonly string[]
  /** basicConstraints critical on a leaf too (always on a CA). Default true. */
  readonly criticalBasicConstraints?: boolean
}

/** A certificate and its new private key, as `spec` says. */
export async function issueCertificate (spec: CertificateSpec): Promise<KeyPair> {
  const subject = [
    { name: 'commonName', value: spec.commonName },
    ...(spec.organization === undefined ? [] : [{ name: 'organizationName', value: spec.organization }]),
  ]
  const altNames = (spec.altNames ?? []).map((n) => isIP(n) === 0 ? { type: 2 as const, value: n } : { type: 7 as const, ip: n })
  const pems = await generate(subject, {
    ...(spec.keyType === 'rsa' ? { keyType: 'rsa', keySize: 2048 } as const : { keyType: 'ec', curve: 'P-256' } as const),
    algorithm: 'sha256',
    ...(spec.issuer === undefined ? {} : { ca: { key: spec.issuer.key, cert: spec.issuer.cert } }),
    notBeforeDate: spec.notBefore,
    notAfterDate: spec.notAfter,
    extensions: spec.ca === true
      ? [
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      ]
      : [
        { name: 'basicConstraints', cA: false, critical: spec.criticalBasicConstraints ?? true },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        ...(spec.extKeyUsage === undefined ? [] : [{ name: 'extKeyUsage' as const, [spec.extKeyUsage]: true }]),
        ...(altNames.length === 0 ? [] : [{ name: 'subjectAltName' as const, altNames }]),
      ],
  })
  return { cert: pems.cert, key: pems.private }
}

/** A self-signed CA valid `days` days from `now`: CA:true, keyCertSign and cRLSign. */
export async function generateCa (now: Date, days: number): Promise<KeyPair> {
  return issueCertificate({
    commonName: `egress-mtls webhook CA ${now.toISOString()}`,
    ca: true,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + days * DAY_MS),
  })
}

/**
 * A serving certificate signed by `ca`, valid `days` days from `now` but never beyond the
 * CA: CA:false, digitalSignature, serverAuth, the DNS names as SANs (the first is the CN).
 */
export async function generateLeaf (ca: KeyPair, dnsNames: readonly string[], now: Date, days: number): Promise<KeyPair> {
  const notAfter = Math.min(now.getTime() + days * DAY_MS, parseCertificate(ca.cert).validToDate.getTime())
  return issueCertificate({
    commonName: dnsNames[0] ?? 'egress-mtls',
    issuer: ca,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(notAfter),
    extKeyUsage: 'serverAuth',
    altNames: dnsNames,
  })
}

/** The self-signed certificate of `serve --self-signed`: localhost, 127.0.0.1 and ::1, serverAuth, from now for `days` days. */
export async function generateSelfSigned (days: number): Promise<KeyPair> {
  const now = new Date()
  return issueCertificate({
    commonName: 'localhost',
    notBefore: now,
    notAfter: new Date(now.getTime() + days * DAY_MS),
    extKeyUsage: 'serverAuth',
    altNames: ['localhost', '127.0.0.1', '::1'],
    criticalBasicConstraints: false,
  })
}
