// A target's client material, as `doctor` (from its Secret) and `probe` (from the Secret or
// files) check it: the certificate chain the sidecar SENDS (the client certificate, then any
// intermediates), its key, and `cacert`, the CAs it TRUSTS to verify the external server.
// The two are unrelated: the client certificate usually comes from the external system's own
// client CA, which is not in `cacert`, so no chain from one to the other is asked for. Pure.
import type { X509Certificate } from 'node:crypto'

import { about, type Finding } from '../base/findings.ts'
import type { SecretKeys, Target } from '../config/config.ts'
import { allowsClientAuth, date, daysLeft, extendedKeyUsages, keyMatches, parseBundle, parseKey, pemBlocksRunTogether, selfSigned, signedBy, subjectOf } from './x509.ts'

/** Warn when a certificate has fewer days left than this. */
export const EXPIRY_WARNING_DAYS = 30

/** The three PEM texts: what the Secret's keys (or the files) hold. */
export interface Material {
  readonly cert: string
  readonly key: string
  readonly cacert: string
}

type Make = ReturnType<typeof about>

/**
 * The Secret of `target` in `namespace`: present, with the three keys, then checkMaterial.
 * `data` is the Secret's data decoded to text, undefined when there is no such Secret.
 */
export function checkSecret (target: Target, namespace: string, data: Readonly<Record<string, string>> | undefined, now: Date): Finding[] {
  const subject = `Secret ${namespace}/${target.secretName} (target ${target.name})`
  const { ok, fail } = about(subject)
  const names = target.secretKeys
  if (data === undefined) return [fail(`not found; create it with keys ${names.cert}, ${names.key}, ${names.cacert}`)]
  const { material, missing } = materialOf(names, data)
  if (missing.length > 0) return [fail(`missing or empty key${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`)]
  return [ok(`keys ${names.cert}, ${names.key}, ${names.cacert} present`), ...checkMaterial(subject, names, material, now)]
}

/** The three texts of a Secret's data (decoded), and the names of the keys missing or empty. */
export function materialOf (names: SecretKeys, data: Readonly<Record<string, string>>): { material: Material, missing: string[] } {
  const missing = [names.cert, names.key, names.cacert].filter((k) => (data[k] ?? '').trim() === '')
  return { material: { cert: data[names.cert] ?? '', key: data[names.key] ?? '', cacert: data[names.cacert] ?? '' }, missing }
}

/**
 * The key matches the client certificate; the client certificate is valid now (warn under
 * EXPIRY_WARNING_DAYS days left) and, when it has an extended key usage, allows clientAuth;
 * the intermediates sent after it each sign the certificate before them; `cacert` holds CA
 * certificates, valid now. `names` are what the user calls the three (Secret keys, files).
 */
export function checkMaterial (subject: string, names: SecretKeys, material: Material, now: Date): Finding[] {
  const make = about(subject)
  const { ok, fail } = make
  const sent = parseBundle(material.cert)
  const trusted = parseBundle(material.cacert)
  const key = parseKey(material.key)
  const findings: Finding[] = []
  if (sent.certs.length === 0) findings.push(fail(`${names.cert} is not a PEM certificate`))
  else if (sent.unparsable > 0) findings.push(fail(`${names.cert} holds a PEM certificate block that does not parse`))
  if (key === undefined) findings.push(fail(`${names.key} is not a PEM private key`))
  if (trusted.certs.length === 0) findings.push(fail(`${names.cacert} is not a PEM certificate bundle`))
  else if (trusted.unparsable > 0) findings.push(fail(`${names.cacert} holds ${plural(trusted.unparsable, 'PEM certificate block')} that do${trusted.unparsable === 1 ? 'es' : ''} not parse`))

  for (const [name, text] of [[names.cert, material.cert], [names.cacert, material.cacert]] as const) {
    if (pemBlocksRunTogether(text)) findings.push(fail(`${name}: an END CERTIFICATE line runs into the next BEGIN CERTIFICATE line: OpenSSL, and so the sidecar, cannot read the file; put a line break between the certificates`))
  }

  const leaf = sent.certs[0]
  if (leaf !== undefined) {
    if (key !== undefined) {
      findings.push(keyMatches(leaf, key) ? ok(`${names.key} matches the certificate`) : fail(`${names.key} does not match the certificate in ${names.cert}`))
    }
    findings.push(...clientCertificate(leaf, now, make))
    if (sent.unparsable === 0) findings.push(...chainSent(sent.certs, names.cert, now, make))
  }
  if (trusted.certs.length > 0) findings.push(...serverCas(trusted.certs, names.cacert, now, make))
  return findings
}

function clientCertificate (leaf: X509Certificate, now: Date, { ok, warn, fail }: Make): Finding[] {
  const findings: Finding[] = []
  const days = daysLeft(leaf, now)
  if (now < leaf.validFromDate) findings.push(fail(`the client certificate is not valid before ${date(leaf.validFromDate)}`))
  else if (now >= leaf.validToDate) findings.push(fail(`the client certificate expired on ${date(leaf.validToDate)}`))
  else if (days < EXPIRY_WARNING_DAYS) findings.push(warn(`the client certificate expires in ${days} days (${date(leaf.validToDate)})`))
  else findings.push(ok(`the client certificate expires in ${days} days (${date(leaf.validToDate)})`))
  if (!allowsClientAuth(leaf)) {
    findings.push(fail(`the client certificate's extended key usage (${(extendedKeyUsages(leaf) ?? []).join(', ')}) lacks clientAuth: servers that check it (OpenSSL, Go, Java) refuse the certificate`))
  }
  return findings
}

/** The chain the sidecar sends: the client certificate, then each issuer in turn. */
function chainSent (chain: readonly X509Certificate[], name: string, now: Date, { ok, warn, fail }: Make): Finding[] {
  const findings: Finding[] = []
  for (let i = 1; i < chain.length; i++) {
    const child = chain[i - 1]
    const parent = chain[i]
    if (child === undefined || parent === undefined) break
    if (!signedBy(child, parent)) {
      return [fail(`${name}: certificate ${i + 1} '${subjectOf(parent)}' did not sign certificate ${i} '${subjectOf(child)}' (issuer '${child.issuer.replace(/\n/g, ', ')}'); put the client certificate first, then each issuer in turn, with none missing`)]
    }
    if (!parent.ca) return [fail(`${name}: certificate ${i + 1} '${subjectOf(parent)}' is not a CA certificate (no basicConstraints CA:TRUE); servers refuse a chain through it`)]
    if (now < parent.validFromDate || now >= parent.validToDate) {
      findings.push(fail(`${name}: the intermediate '${subjectOf(parent)}' is not valid now (${date(parent.validFromDate)} to ${date(parent.validToDate)})`))
    } else if (daysLeft(parent, now) < EXPIRY_WARNING_DAYS) {
      findings.push(warn(`${name}: the intermediate '${subjectOf(parent)}' expires in ${daysLeft(parent, now)} days (${date(parent.validToDate)})`))
    }
  }
  const last = chain.at(-1)
  if (last === undefined) return findings
  const issuer = `'${last.issuer.replace(/\n/g, ', ')}'`
  if (chain.length === 1) {
    findings.push(selfSigned(last)
      ? ok(`${name} holds a self-signed client certificate; the server must trust exactly this certificate`)
      : ok(`${name} sends the client certificate alone; the server must trust its issuer ${issuer}, or ${name} must hold the intermediates after it`))
  } else if (selfSigned(last)) {
    findings.push(ok(`${name} sends the client certificate and ${plural(chain.length - 2, 'intermediate')} up to the root '${subjectOf(last)}'`))
  } else {
    findings.push(ok(`${name} sends the client certificate and ${plural(chain.length - 1, 'intermediate')}; the server must trust their issuer ${issuer}`))
  }
  return findings
}

/** `cacert`: the CAs the sidecar trusts to verify the external server's certificate. */
function serverCas (certs: readonly X509Certificate[], name: string, now: Date, { ok, warn, fail }: Make): Finding[] {
  const findings: Finding[] = []
  const valid = (c: X509Certificate): boolean => now >= c.validFromDate && now < c.validToDate
  const usable = certs.filter((c) => valid(c) && (c.ca || selfSigned(c)))
  const problem = usable.length === 0 ? fail : warn
  for (const c of certs) {
    if (!c.ca && selfSigned(c)) findings.push(warn(`${name}: '${subjectOf(c)}' is not a CA certificate (no basicConstraints CA:TRUE): it verifies only a server that presents exactly this certificate`))
    else if (!c.ca) findings.push(fail(`${name}: '${subjectOf(c)}' is not a CA certificate (no basicConstraints CA:TRUE); ${name} holds the CAs that issued the external server's certificate`))
    else if (now >= c.validToDate) findings.push(problem(`${name}: the CA '${subjectOf(c)}' expired on ${date(c.validToDate)}`))
    else if (now < c.validFromDate) findings.push(problem(`${name}: the CA '${subjectOf(c)}' is not valid before ${date(c.validFromDate)}`))
    else if (daysLeft(c, now) < EXPIRY_WARNING_DAYS) findings.push(warn(`${name}: the CA '${subjectOf(c)}' expires in ${daysLeft(c, now)} days (${date(c.validToDate)})`))
  }
  const cas = usable.filter((c) => c.ca).sort((a, b) => a.validToDate.getTime() - b.validToDate.getTime())
  const first = cas[0]
  if (first === undefined) {
    if (usable.length === 0) findings.push(fail(`${name} holds no CA certificate valid now: the sidecar cannot verify the server`))
    return findings
  }
  const until = (c: X509Certificate): string => `'${subjectOf(c)}' until ${date(c.validToDate)} (${daysLeft(c, now)} days)`
  const listed = cas.length <= 3 ? cas.map(until).join(', ') : `the first to expire ${until(first)}`
  findings.push(ok(`${name} holds ${plural(cas.length, 'CA certificate')} to verify the server: ${listed}`))
  return findings
}

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`
