// One mutual-TLS connection for `egress-mtls probe`: connect, handshake with the sidecar's
// TLS parameters and the target's material, send one HEAD request, read the first line of
// the answer. Every outcome is an Observation (core/tls/probe.ts judges it); nothing throws.
//
// A server the sidecar would not trust never sees the client certificate: Node verifies the
// server only once the handshake is over (after the client has sent its Certificate and
// signed the transcript), so the probe judges the server's chain and name earlier, in the
// one synchronous callback Node runs between the server's Certificate and the client's:
// the OCSP status callback ('OCSPResponse', asked for with requestOCSP, called with or
// without a stapled response), and destroys the socket there, as Node's documentation
// of that event allows. Envoy aborts the same way.
import { connect, type DetailedPeerCertificate, type TLSSocket } from 'node:tls'

import { type Observation, SIDECAR_TLS, UNTRUSTED_SERVER, untrustedServer } from '../core/tls/probe.ts'
import { parseCertificate } from '../core/tls/x509.ts'

export interface ProbeConnection {
  /** Where to connect. */
  readonly host: string
  readonly port: number
  /** The SNI to send (the target's). */
  readonly servername: string
  /** The client chain, key and the CAs that verify the server (PEM). */
  readonly cert: string
  readonly key: string
  readonly ca: string
  /** The names the server certificate must carry (none: not checked, verifyServerName: false). */
  readonly serverNames: readonly string[]
  /** The bytes to send once the handshake is done. */
  readonly request: string
  readonly timeoutMs: number
}

type Stage = 'connect' | 'handshake' | 'answer'

export function probeConnection (c: ProbeConnection): Promise<Observation> {
  return new Promise((resolve) => {
    let stage: Stage = 'connect'
    let settled = false
    let tlsFacts: Omit<Observation, 'failure' | 'answer'> = { serverChain: [] }
    let received = ''
    let socket: TLSSocket
    const finish = (outcome: Pick<Observation, 'failure' | 'answer'>): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ ...tlsFacts, ...outcome })
    }
    const timer = setTimeout(() => {
      finish({ failure: { stage, code: 'timeout', message: `no ${stage === 'answer' ? 'answer' : stage === 'connect' ? 'connection' : 'handshake'} within ${String(c.timeoutMs / 1000)} s` } })
    }, c.timeoutMs)
    try {
      socket = connect({
        host: c.host,
        port: c.port,
        servername: c.servername,
        cert: c.cert,
        key: c.key,
        ca: c.ca,
        ...SIDECAR_TLS,
        // The chain and the name are judged in the status callback below (untrustedServer),
        // from what the server sent, and the facts kept for the report; Node's own check
        // would come after the client certificate was sent, and hide those facts.
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
        requestOCSP: true,
      })
    } catch (err) {
      // Material that OpenSSL refuses (a key that does not match the certificate, ...).
      settled = true
      clearTimeout(timer)
      resolve({ serverChain: [], failure: { stage: 'handshake', code: (err as NodeJS.ErrnoException).code ?? 'material', message: (err as Error).message } })
      return
    }
    socket.once('connect', () => { stage = 'handshake' })
    socket.once('OCSPResponse', () => {
      const chain = peerChain(socket)
      const verifyError = chainVerifyError(socket)
      const why = untrustedServer(c.serverNames, chain, verifyError)
      if (why === undefined) return
      tlsFacts = { protocol: socket.getProtocol() ?? '?', verifyError, serverChain: chain }
      finish({ failure: { stage: 'handshake', code: UNTRUSTED_SERVER, message: why } })
    })
    socket.once('secureConnect', () => {
      stage = 'answer'
      tlsFacts = {
        protocol: socket.getProtocol() ?? '?',
        cipher: socket.getCipher().standardName,
        // On a client, OpenSSL knows shared signature algorithms only from a server's
        // CertificateRequest: none means the server did not ask for a client certificate.
        clientCertificateRequested: socket.getSharedSigalgs().length > 0,
        verifyError: socket.authorized ? null : String(socket.authorizationError),
        serverChain: peerChain(socket),
      }
      socket.write(c.request)
    })
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      received += chunk
      const end = received.indexOf('\r\n')
      if (end >= 0 || received.length > 1024) finish({ answer: (end >= 0 ? received.slice(0, end) : received.slice(0, 1024)).trim() })
    })
    socket.on('error', (err: NodeJS.ErrnoException) => { finish({ failure: { stage, code: err.code ?? 'error', message: err.message.trim() } }) })
    socket.on('close', () => {
      if (received !== '') finish({ answer: received.split('\r\n')[0]?.trim() ?? '' })
      else finish({ failure: { stage, code: 'closed', message: 'the server closed the connection' } })
    })
  })
}

/**
 * OpenSSL's verdict on the server's chain against `ca`, as Node's authorizationError gives
 * it after the handshake (the code, e.g. UNABLE_TO_GET_ISSUER_CERT_LOCALLY), but read during
 * it from the socket's handle (TLSSocket.ssl, where Node reads it itself); null: verified.
 */
function chainVerifyError (socket: TLSSocket): string | null {
  const handle = (socket as unknown as { ssl?: { verifyError?: () => (Error & { code?: string }) | null } }).ssl
  const err = handle?.verifyError?.()
  if (err === undefined) return 'UNVERIFIED' // no handle: never trust what could not be checked
  return err === null ? null : err.code ?? err.message
}

/** The server's chain, leaf first, as OpenSSL built it (each certificate once). */
function peerChain (socket: TLSSocket): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  // Node's types promise more than it gives: no certificate is `{}`, and the end of a
  // chain that does not reach a root has no issuerCertificate.
  let cert: Partial<DetailedPeerCertificate> | undefined = socket.getPeerCertificate(true)
  while (cert?.raw !== undefined && cert.fingerprint256 !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256)
    out.push(parseCertificate(cert.raw).toString())
    cert = cert.issuerCertificate
  }
  return out
}
