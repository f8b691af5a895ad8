// Certificate generation for the webhook: our own CA and the serving leaf it signs, with
// `selfsigned` 5 (async). Both EC P-256 with SHA-256 signatures: selfsigned defaults to
// SHA-1, which Go's TLS (hence kube-apiserver) rejects, and signs only with a CA of the same
// key type.
import { generate } from 'selfsigned'

import type { KeyPair } from '../core/certs.ts'
import { DAY_MS, parseCertificate } from '../core/x509.ts'

/**
 * notBefore is set this far in the past, so that an API server whose clock is a little
 * behind the clock of the machine that made the certificate still accepts it (kubeadm
 * backdates by the same amount).
 */
export const BACKDATE_MS = 5 * 60 * 1000

const common = { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' } as const

/** A self-signed CA valid `days` days from `now`: CA:true, keyCertSign and cRLSign. */
export async function generateCa (now: Date, days: number): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: `egress-mtls webhook CA ${now.toISOString()}` }], {
    ...common,
    notBeforeDate: new Date(now.getTime() - BACKDATE_MS),
    notAfterDate: new Date(now.getTime() + days * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  })
  return { cert: pems.cert, key: pems.private }
}

/**
 * A serving certificate signed by `ca`, valid `days` days from `now` but never beyond the
 * CA: CA:false, digitalSignature, serverAuth, the DNS names as SANs (the first is the CN).
 */
export async function generateLeaf (ca: KeyPair, dnsNames: readonly string[], now: Date, days: number): Promise<KeyPair> {
  const notAfter = Math.min(now.getTime() + days * DAY_MS, parseCertificate(ca.cert).validToDate.getTime())
  const pems = await generate([{ name: 'commonName', value: dnsNames[0] ?? 'egress-mtls' }], {
    ...common,
    ca: { key: ca.key, cert: ca.cert },
    notBeforeDate: new Date(now.getTime() - BACKDATE_MS),
    notAfterDate: new Date(notAfter),
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: dnsNames.map((value) => ({ type: 2 as const, value })) },
    ],
  })
  return { cert: pems.cert, key: pems.private }
}
