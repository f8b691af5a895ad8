// `egress-mtls probe`: what one real mutual-TLS connection to a target showed, judged as the
// sidecar would judge it. Pure: the connection is made by io/tls-probe.ts; this module says
// how to make it (the sidecar's TLS parameters) and what its outcome means.
import type { X509Certificate } from 'node:crypto'

import { about, type Finding } from '../base/findings.ts'
import type { Target } from '../config/config.ts'
import { serverNames } from '../istio/render.ts'
import { EXPIRY_WARNING_DAYS } from './client-material.ts'
import { certificateNames, date, daysLeft, parseCertificate, subjectAltNames, subjectOf } from './x509.ts'

/**
 * The TLS parameters of the sidecar's connection to the target: Istio sets TLS 1.2 to 1.3
 * for DestinationRule TLS (defaultUpstreamCommonTLSContext in pilot's cluster_tls.go) and
 * leaves ciphers and curves to Envoy's client defaults unless meshConfig.tlsDefaults says
 * otherwise: ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2, X25519 and P-256. A server
 * that only speaks something else fails the probe as it fails the sidecar.
 */
export const SIDECAR_TLS = {
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  ciphers: [
    'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-CHACHA20-POLY1305',
    'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  ].join(':'),
  ecdhCurve: 'X25519:P-256',
} as const

export interface ProbePlan {
  readonly target: string
  /** The target's host and TLS port: what the sidecar connects to, and the Host header. */
  readonly host: string
  readonly port: number
  readonly sni: string
  /**
   * The names the server certificate must carry (the DestinationRule's subjectAltNames,
   * render.ts's serverNames); empty when the sidecar does not check.
   */
  readonly serverNames: readonly string[]
  /** Where the probe connects (`--connect-to`), when not host:port. */
  readonly connectTo?: { readonly host: string, readonly port: number }
}

export function probePlan (target: Target, connectTo?: { host: string, port: number }): ProbePlan {
  return {
    target: target.name,
    host: target.host,
    port: target.port,
    sni: target.sni,
    serverNames: serverNames(target),
    ...(connectTo === undefined ? {} : { connectTo }),
  }
}

/**
 * The HTTP request sent once the handshake is done: only an answer proves the server
 * accepted the client (TLS 1.3 refuses it after the handshake).
 */
export function probeRequest (plan: ProbePlan, userAgent: string): string {
  const host = plan.port === 443 ? plan.host : `${plan.host}:${String(plan.port)}`
  return `HEAD / HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: ${userAgent}\r\nConnection: close\r\n\r\n`
}

/** What the connection showed (io/tls-probe.ts). */
export interface Observation {
  /** The stage that failed, and how; absent when an HTTP answer came back. */
  readonly failure?: {
    readonly stage: 'connect' | 'handshake' | 'answer'
    /**
     * Node's or OpenSSL's error code (ECONNREFUSED, ERR_SSL_TLSV1_ALERT_UNKNOWN_CA, ...);
     * `timeout`; `closed` when the server closed without an error.
     */
    readonly code: string
    readonly message: string
  }
  readonly protocol?: string
  readonly cipher?: string
  /** The server sent a CertificateRequest (undefined when the handshake did not complete). */
  readonly clientCertificateRequested?: boolean
  /** OpenSSL's verdict on the server's chain against cacert: null when it verified. */
  readonly verifyError?: string | null
  /** The server's certificate chain, leaf first, PEM (as OpenSSL built it). */
  readonly serverChain: readonly string[]
  /** The first line of the HTTP answer. */
  readonly answer?: string
}

/** Observation failure code: the probe ended the handshake itself, the server being untrusted. */
export const UNTRUSTED_SERVER = 'untrusted-server'

/**
 * Why the sidecar would not trust the server, judged from its chain (leaf first, PEM) and
 * OpenSSL's verdict on it, before the client certificate is sent: the chain does not verify
 * against cacert, or the leaf names none of `serverNames` (when there are any). Undefined:
 * trusted, go on.
 */
export function untrustedServer (serverNames: readonly string[], chain: readonly string[], verifyError: string | null): string | undefined {
  if (verifyError !== null) return `the server's chain does not verify against cacert: ${verifyError}`
  const leaf = chain[0] === undefined ? undefined : parseCertificate(chain[0])
  if (leaf === undefined) return 'the server sent no certificate'
  if (serverNames.length > 0 && !serverNames.some((n) => certificateNames(leaf, n))) return `the server certificate does not name ${serverNames.join(' or ')}`
  return undefined
}

/** HOST:PORT, with an IPv6 address in brackets. */
const hostPort = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${String(port)}`

/** `api.bank.example.com:443`, or `api.bank.example.com:443 via 127.0.0.1:8443` with --connect-to. */
export function probeSubject (plan: ProbePlan): string {
  const target = hostPort(plan.host, plan.port)
  return plan.connectTo === undefined ? target : `${target} via ${hostPort(plan.connectTo.host, plan.connectTo.port)}`
}

/** TLS alerts a server sends when it refuses the client certificate (RFC 8446 §6.2). */
const CLIENT_REFUSED: Readonly<Record<number, string>> = {
  42: 'bad_certificate', 43: 'unsupported_certificate', 44: 'certificate_revoked', 45: 'certificate_expired',
  46: 'certificate_unknown', 48: 'unknown_ca', 49: 'access_denied', 116: 'certificate_required',
}

function alert (message: string): number | undefined {
  const m = /SSL alert number (\d+)/.exec(message)
  return m === null ? undefined : Number(m[1])
}

/** Why the server's chain does not verify, in words, from OpenSSL's code. */
function chainProblem (code: string, chain: readonly X509Certificate[], now: Date): string {
  const leaf = chain[0]
  const issuer = leaf === undefined ? '' : ` (issuer '${leaf.issuer.replace(/\n/g, ', ')}')`
  switch (code) {
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      return `cacert does not hold the CA that issued the server's certificate${issuer}`
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return `the server's chain ends in a self-signed certificate that is not in cacert${issuer}`
    case 'CERT_HAS_EXPIRED': {
      const expired = chain.find((c) => c.validToDate <= now)
      return expired === undefined ? 'a certificate of the chain has expired' : `'${subjectOf(expired)}' expired on ${date(expired.validToDate)}`
    }
    case 'CERT_NOT_YET_VALID': {
      const early = chain.find((c) => c.validFromDate > now)
      return early === undefined ? 'a certificate of the chain is not valid yet' : `'${subjectOf(early)}' is not valid before ${date(early.validFromDate)}`
    }
    default:
      return code
  }
}

/** Whether the sidecar would succeed, a finding per check, and the facts behind them. */
export function judgeProbe (plan: ProbePlan, seen: Observation, now: Date): Finding[] {
  const { ok, warn, fail } = about(probeSubject(plan))
  const failure = seen.failure
  if (failure?.stage === 'connect') return [fail(`cannot connect: ${failure.message}`)]
  if (failure?.code === UNTRUSTED_SERVER) {
    return [...serverFindings(plan, seen, now), fail('the probe ended the TLS handshake before presenting the client certificate: the sidecar would not trust this server')]
  }
  if (failure?.stage === 'handshake') {
    const n = alert(failure.message)
    if (n !== undefined && Object.hasOwn(CLIENT_REFUSED, n)) return [fail(`the TLS handshake failed: the server refused the client certificate (alert ${CLIENT_REFUSED[n] ?? n})`)]
    if (n === 40) return [fail('the TLS handshake failed: the server ended it (alert handshake_failure): it wants a client certificate it did not get, or shares no TLS version or cipher with the sidecar (TLS 1.2 with ECDHE and AES-GCM or ChaCha20, or TLS 1.3)')]
    if (n === 70) return [fail('the TLS handshake failed: no TLS version in common (the sidecar offers TLS 1.2 and 1.3)')]
    if (failure.code === 'ECONNRESET' || failure.code === 'closed') return [fail('the TLS handshake failed: the server closed the connection during it (it may have refused the client certificate)')]
    return [fail(`the TLS handshake failed: ${failure.message}`)]
  }

  const findings: Finding[] = [ok(`TLS handshake done: ${seen.protocol ?? '?'}, ${seen.cipher ?? '?'}`), ...serverFindings(plan, seen, now)]
  const asked = seen.clientCertificateRequested === true
  if (failure === undefined) {
    findings.push(asked
      ? ok(`the server asked for the client certificate and accepted it: it answered ${seen.answer ?? '?'}`)
      : warn(`the server did not ask for a client certificate: it answered ${seen.answer ?? '?'} without mutual TLS`))
  } else {
    const n = alert(failure.message)
    const refused = n !== undefined && Object.hasOwn(CLIENT_REFUSED, n)
    if (refused) findings.push(fail(`the server refused the client certificate after the handshake (alert ${CLIENT_REFUSED[n] ?? n})`))
    else if (failure.code === 'timeout') {
      // Handshake done, then silence: a server that does not speak HTTP, or does not answer
      // HEAD. A refused client certificate gets an alert at once (TLS 1.3) or fails the
      // handshake (TLS 1.2), so the sidecar's TLS is fine; what it sends is the application's.
      findings.push(warn(`the server did not answer HEAD / (${failure.message}): it may not speak HTTP, or not answer HEAD; ` + (asked
        ? `it sent no alert against the client certificate${seen.protocol === 'TLSv1.2' ? ' (TLS 1.2 accepted it in the handshake)' : ' (a TLS 1.3 server refuses one right after the handshake)'}`
        : 'it did not ask for a client certificate (no mutual TLS)')))
    } else if (failure.code === 'closed' || failure.code === 'ECONNRESET') {
      findings.push(fail(asked
        ? 'the server asked for the client certificate, then closed the connection without answering: it refused the certificate'
        : 'the server closed the connection after the handshake without answering'))
    } else findings.push(fail(`no HTTP answer after the handshake: ${failure.message}`))
  }
  return findings
}

/** What the sidecar checks of the server: its chain against cacert, its name, its validity. */
function serverFindings (plan: ProbePlan, seen: Observation, now: Date): Finding[] {
  const { ok, warn, fail } = about(probeSubject(plan))
  const findings: Finding[] = []
  const chain = seen.serverChain.map((pem) => parseCertificate(pem))
  const leaf = chain[0]
  const top = chain.at(-1)
  if (seen.verifyError === null || seen.verifyError === undefined) {
    findings.push(ok(`the server's certificate chain verifies against cacert${chain.length > 1 && top !== undefined ? ` (up to '${subjectOf(top)}')` : ''}`))
  } else {
    findings.push(fail(`the server's certificate chain does not verify against cacert: ${chainProblem(seen.verifyError, chain, now)} (${seen.verifyError})`))
  }
  if (leaf !== undefined) {
    const named = subjectAltNames(leaf)
    const names = named.length === 0 ? 'no subjectAltName' : named.join(', ')
    const wanted = plan.serverNames
    if (wanted.length === 0) {
      findings.push(warn(`the server name is not verified (verifyServerName: false): the sidecar accepts any certificate cacert verifies; this one names ${names}`))
    } else {
      const match = wanted.find((n) => certificateNames(leaf, n))
      findings.push(match !== undefined
        ? ok(`the server certificate names ${match} (${names})`)
        : fail(`the server certificate does not name ${wanted.join(' or ')}: it names ${names}`))
    }
    const days = daysLeft(leaf, now)
    if (now >= leaf.validToDate) findings.push(fail(`the server certificate expired on ${date(leaf.validToDate)}`))
    else if (days < EXPIRY_WARNING_DAYS) findings.push(warn(`the server certificate expires in ${days} days (${date(leaf.validToDate)})`))
    else findings.push(ok(`the server certificate expires in ${days} days (${date(leaf.validToDate)})`))
  }
  return findings
}

/**
 * The client material's problems (client-material.ts) beside what the connection showed:
 * as they are when the connection failed, since they may explain it; as warnings when it
 * succeeded, since this server did not mind (another server, or this one later, may).
 */
export function withMaterial (material: readonly Finding[], connection: readonly Finding[]): Finding[] {
  const problems = material.filter((f) => f.level !== 'ok')
  const failed = connection.some((f) => f.level === 'fail')
  return [...(failed ? problems : problems.map((f) => ({ ...f, level: 'warn' as const }))), ...connection]
}

/** The facts behind the findings, for `-o yaml|json`. */
export function probeDetails (plan: ProbePlan, seen: Observation, now: Date): Record<string, unknown> {
  const leaf = seen.serverChain[0] === undefined ? undefined : parseCertificate(seen.serverChain[0])
  return {
    target: plan.target,
    host: plan.host,
    port: plan.port,
    sni: plan.sni,
    serverNames: plan.serverNames,
    ...(plan.connectTo === undefined ? {} : { connectTo: hostPort(plan.connectTo.host, plan.connectTo.port) }),
    ...(seen.protocol === undefined ? {} : { protocol: seen.protocol }),
    ...(seen.cipher === undefined ? {} : { cipher: seen.cipher }),
    ...(seen.clientCertificateRequested === undefined ? {} : { clientCertificateRequested: seen.clientCertificateRequested }),
    ...(seen.answer === undefined ? {} : { answer: seen.answer }),
    ...(leaf === undefined
      ? {}
      : {
        serverCertificate: {
          subject: subjectOf(leaf),
          issuer: leaf.issuer.replace(/\n/g, ', '),
          subjectAltNames: subjectAltNames(leaf),
          notAfter: leaf.validToDate.toISOString(),
          daysLeft: daysLeft(leaf, now),
        },
      }),
    ...(seen.failure === undefined ? {} : { failure: seen.failure }),
  }
}
