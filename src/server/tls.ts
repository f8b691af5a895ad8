// The serving certificate: read from PEM files (and checked before it is served), or made
// in memory for local use (by src/pki).
import { constants, type X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createSecureContext, type SecureContextOptions } from 'node:tls'

import { parseCertificate } from '../core/tls/x509.ts'
import { cliErrorFrom } from '../errors.ts'

/** TLS 1.2+ (docs/design.md); what kube-apiserver's Go client negotiates. */
export const MIN_TLS_VERSION = 'TLSv1.2'

/**
 * TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only, as Go's crypto/tls offers by
 * default (kube-apiserver is a Go client): no CBC, no RSA key exchange. TLS 1.3 keeps
 * OpenSSL's default suites (all AEAD with ephemeral keys).
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

export interface ServingCertificate {
  /** PEM: the leaf first, then any intermediates. */
  readonly cert: string
  /** PEM private key. Never logged. */
  readonly key: string
  readonly notAfter: Date
  readonly fingerprint256: string
}

/** A certificate and key that a TLS server can use, or a TlsError saying why not. */
export function servingCertificate (cert: string, key: string, source: string): ServingCertificate {
  let x509: X509Certificate
  try {
    x509 = parseCertificate(cert)
  } catch (err) {
    throw cliErrorFrom(err, 'EMTLS_CLI_TLS_NOT_PEM', source, (err as Error).message)
  }
  try {
    // OpenSSL checks here that the key parses and belongs to the certificate.
    createSecureContext({ cert, key })
  } catch (err) {
    throw cliErrorFrom(err, 'EMTLS_CLI_TLS_UNUSABLE_PAIR', source, (err as Error).message)
  }
  return { cert, key, notAfter: x509.validToDate, fingerprint256: x509.fingerprint256 }
}

export async function readServingCertificate (certFile: string, keyFile: string): Promise<ServingCertificate> {
  const read = async (file: string): Promise<string> => {
    try {
      return await readFile(file, 'utf8')
    } catch (err) {
      throw cliErrorFrom(err, 'EMTLS_CLI_TLS_UNREADABLE', file, (err as NodeJS.ErrnoException).code ?? String(err))
    }
  }
  const [cert, key] = await Promise.all([read(certFile), read(keyFile)])
  return servingCertificate(cert, key, `${certFile} + ${keyFile}`)
}

/** An in-memory EC P-256/SHA-256 certificate for localhost (`serve --self-signed`). */
export async function selfSignedCertificate (days = 365): Promise<ServingCertificate> {
  // Loaded only here, so that `serve` with certificate files never loads selfsigned.
  const { generateSelfSigned } = await import('../pki/generate.ts')
  const pair = await generateSelfSigned(days)
  return servingCertificate(pair.cert, pair.key, 'self-signed certificate')
}

/**
 * What a TLS server needs from a serving certificate, with the protocol policy above and no
 * renegotiation (a TLS 1.2 client asking for one gets a fatal alert). Also used for every
 * reloaded certificate: the policy lives in the secure context.
 */
export function secureContextOptions (serving: ServingCertificate): SecureContextOptions {
  return {
    cert: serving.cert,
    key: serving.key,
    minVersion: MIN_TLS_VERSION,
    ciphers: TLS12_CIPHERS,
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  }
}
