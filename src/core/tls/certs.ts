// What the certs command does (docs/design.md "Commands"), decided from what is stored: the
// Secret's data and the caBundle of each webhook. Pure: PEM text and a clock in, a decision
// out; certificates are only parsed here (node:crypto), never made or written.
//
// The Secret holds tls.crt and tls.key (the serving leaf), ca.crt (the bundle: the current
// CA first, then any previous CA still carried) and ca.key (the current CA's key, needed to
// renew the leaf without replacing the CA; the webhook mounts only tls.crt and tls.key).
//
// When a CA leaves the bundle. A CA other than the current one stays while it has not
// expired and a leaf it signed may still be served:
// - the CA that signed the stored leaf is kept when that leaf is replaced (pods serve it
//   until kubelet has updated their Secret volume and the server has reloaded the files);
// - a previous CA recorded in ca.crt is kept as long as the stored leaf is kept, and dropped
//   when that leaf, signed by the current CA, is renewed in its turn. So the old CA outlives
//   the switch by one renewal period of the new leaf (by default 2/3 of 365 days), far
//   longer than the minutes a Secret volume takes to change; and it goes at the latest
//   when it expires, after which no chain through it verifies anyway.
import type { KeyObject, X509Certificate } from 'node:crypto'

import { fail, ok, type Result } from '../base/result.ts'
import { DAY_MS, describe, extendedKeyUsages, keyMatches, parseBundle, parseCertificate, parseKey, sameCert as same, signedBy, subjectAltNames } from './x509.ts'

export const TLS_CERT = 'tls.crt'
export const TLS_KEY = 'tls.key'
export const CA_CERT = 'ca.crt'
export const CA_KEY = 'ca.key'

/** A certificate and its private key, PEM. */
export interface KeyPair {
  readonly cert: string
  readonly key: string
}

export interface Policy {
  /** Wanted SANs, exactly (see serviceDnsNames). */
  readonly dnsNames: readonly string[]
  readonly leafValidityDays: number
  /** Renew when less than this fraction of a certificate's validity is left. */
  readonly renewFraction: number
}

export interface WebhookBundle {
  readonly name: string
  /** The caBundle as text (PEM); '' when unset. */
  readonly caBundle: string
}

export interface Observed {
  /** The Secret's data as text; undefined when there is no Secret. */
  readonly secret: Readonly<Record<string, string>> | undefined
  /** Every webhook of the MutatingWebhookConfiguration, in order. */
  readonly webhooks: readonly WebhookBundle[]
}

/** What to make: nothing, a new leaf signed by the current CA, or a new CA and leaf. */
export type Decision =
  | { readonly issue: 'none', readonly ca: KeyPair, readonly leaf: KeyPair, readonly previous: readonly string[], readonly reasons: readonly string[], readonly notes: readonly string[] }
  | { readonly issue: 'leaf', readonly ca: KeyPair, readonly previous: readonly string[], readonly reasons: readonly string[], readonly notes: readonly string[] }
  | { readonly issue: 'ca', readonly previous: readonly string[], readonly reasons: readonly string[], readonly notes: readonly string[] }
// reasons: why a CA or leaf is made (empty for 'none'); notes: which previous CAs are
// carried or dropped, and why. previous: the other CAs to carry in the bundle (PEM).

export interface Writes {
  /** The wanted bundle: the current CA, then the previous CAs carried (PEM). */
  readonly bundle: string
  /** The Secret's four keys, when the Secret must be written. */
  readonly secretData: Readonly<Record<string, string>> | undefined
  /** Names of the webhooks whose caBundle must be set. */
  readonly webhooks: readonly string[]
  /** Why: what each stored value lacks or holds that it should not. */
  readonly reasons: readonly string[]
}

/** The Service's DNS names: SVC, SVC.NS, SVC.NS.svc, SVC.NS.svc.cluster.local. */
export function serviceDnsNames (service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`]
}

function parseCert (text: string | undefined): X509Certificate | undefined {
  return parseBundle(text).certs[0]
}

function isP256 (key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
}

function dnsNames (cert: X509Certificate): string[] {
  return subjectAltNames(cert).sort()
}

const days = (ms: number): string => (ms / DAY_MS).toFixed(1)
const percent = (f: number): string => `${String(Math.round(f * 1000) / 10)}%`

/** From when a certificate is due for renewal: less than `fraction` of its validity left. */
export function renewalDue (cert: X509Certificate, fraction: number): Date {
  const from = cert.validFromDate.getTime()
  const to = cert.validToDate.getTime()
  return new Date(to - fraction * (to - from))
}

/** Why a certificate is due, if it is. The ratio left/total is compared with the fraction
 * (not left with fraction × total) so that exactly one third left is not yet due. */
function tooOld (cert: X509Certificate, fraction: number, now: Date): string | undefined {
  const from = cert.validFromDate.getTime()
  const to = cert.validToDate.getTime()
  const left = to - now.getTime()
  if (left <= 0) return `expired on ${cert.validToDate.toISOString()}`
  if (now.getTime() < from) return `is not valid before ${cert.validFromDate.toISOString()}`
  if (left / (to - from) < fraction) return `has ${days(left)} of ${days(to - from)} days left, less than ${percent(fraction)}`
  return undefined
}

interface CurrentCa { readonly cert: X509Certificate, readonly pair: KeyPair }

/** The current CA, or why a new one is needed. */
function checkCa (
  secret: Readonly<Record<string, string>>, known: readonly X509Certificate[], policy: Policy, now: Date,
): Result<CurrentCa> {
  const keyText = secret[CA_KEY]
  if (keyText === undefined || keyText.trim() === '') return fail(`${CA_KEY} is missing`)
  const key = parseKey(keyText)
  if (key === undefined) return fail(`${CA_KEY} is not a PEM private key`)
  if (!isP256(key)) return fail(`${CA_KEY} is not an EC P-256 key`)
  const matching = known.filter((c) => keyMatches(c, key))
  const cert = matching.filter((c) => c.ca).sort((a, b) => b.validToDate.getTime() - a.validToDate.getTime())[0]
  if (cert === undefined) {
    return fail(matching.length > 0 ? `the certificate of ${CA_KEY} is not a CA` : `no certificate in ${CA_CERT} or the caBundle matches ${CA_KEY}`)
  }
  const old = tooOld(cert, policy.renewFraction, now)
  if (old !== undefined) return fail(`the CA ${describe(cert)} ${old}`)
  const left = cert.validToDate.getTime() - now.getTime()
  if (left < policy.leafValidityDays * DAY_MS) {
    return fail(`the CA ${describe(cert)} has ${days(left)} days left, less than a new leaf's ${days(policy.leafValidityDays * DAY_MS)}`)
  }
  return ok({ cert, pair: { cert: cert.toString(), key: keyText } })
}

function checkLeaf (
  leaf: X509Certificate | undefined, secret: Readonly<Record<string, string>>, ca: X509Certificate, policy: Policy, now: Date,
): string[] {
  const certText = secret[TLS_CERT]
  if (certText === undefined || certText.trim() === '') return [`${TLS_CERT} is missing`]
  if (leaf === undefined) return [`${TLS_CERT} is not a PEM certificate`]
  const key = parseKey(secret[TLS_KEY])
  const reasons: string[] = []
  if (secret[TLS_KEY] === undefined || secret[TLS_KEY].trim() === '') reasons.push(`${TLS_KEY} is missing`)
  else if (key === undefined) reasons.push(`${TLS_KEY} is not a PEM private key`)
  else if (!keyMatches(leaf, key)) reasons.push(`${TLS_KEY} does not match ${TLS_CERT}`)
  if (leaf.ca) reasons.push(`${TLS_CERT} is a CA certificate`)
  if (!signedBy(leaf, ca)) reasons.push(`${TLS_CERT} is not signed by the current CA ${describe(ca)}`)
  const want = policy.dnsNames.map((n) => `DNS:${n}`).sort()
  const have = dnsNames(leaf)
  if (want.join(',') !== have.join(',')) reasons.push(`${TLS_CERT} names ${have.length === 0 ? 'nothing' : have.join(', ')}; wanted ${want.join(', ')}`)
  if (extendedKeyUsages(leaf)?.includes('serverAuth') !== true) reasons.push(`${TLS_CERT} is not for serverAuth`)
  const old = tooOld(leaf, policy.renewFraction, now)
  if (old !== undefined) reasons.push(`the serving certificate ${old}`)
  return reasons
}

/** Decides what to make, and which CAs besides the current one the bundle carries. */
export function decide (observed: Observed, policy: Policy, now: Date): Decision {
  const secret = observed.secret
  if (secret === undefined) return { issue: 'ca', previous: [], reasons: ['the Secret does not exist'], notes: [] }
  const recorded = parseBundle(secret[CA_CERT]).certs
  const published = observed.webhooks.flatMap((w) => parseBundle(w.caBundle).certs)
  const known = [...recorded, ...published]
  const leaf = parseCert(secret[TLS_CERT])
  const ca = checkCa(secret, known, policy, now)
  const leafReasons = ca.ok ? checkLeaf(leaf, secret, ca.value.cert, policy, now) : []
  const current = ca.ok ? ca.value.cert : undefined
  const notes: string[] = []
  const carry = (c: X509Certificate, role: string): boolean => {
    if (current !== undefined && same(c, current)) return false
    if (!c.ca) {
      notes.push(`dropped ${describe(c)} from the bundle: not a CA`)
      return false
    }
    if (c.validToDate.getTime() <= now.getTime()) {
      notes.push(`dropped the ${role} CA ${describe(c)} from the bundle: it expired`)
      return false
    }
    return true
  }
  const unique = (certs: readonly X509Certificate[]): X509Certificate[] =>
    certs.filter((c, i) => certs.findIndex((d) => same(c, d)) === i)

  if (ca.ok && leafReasons.length === 0 && leaf !== undefined) {
    const previous = unique(recorded).filter((c) => carry(c, 'previous'))
    for (const c of previous) notes.push(`carrying the previous CA ${describe(c)} until the serving certificate is renewed`)
    return {
      issue: 'none',
      ca: ca.value.pair,
      leaf: { cert: secret[TLS_CERT] ?? '', key: secret[TLS_KEY] ?? '' },
      previous: previous.map((c) => c.toString()),
      reasons: [],
      notes,
    }
  }
  // The stored leaf is replaced: only the CA that signed it (if it can still be served)
  // stays beside the current one; every other previous CA has had its renewal period.
  const servable = leaf !== undefined && leaf.validToDate.getTime() > now.getTime()
  const issuer = servable ? known.find((c) => signedBy(leaf, c)) : undefined
  const previous = issuer !== undefined && carry(issuer, 'old') ? [issuer] : []
  for (const c of unique(recorded)) {
    if (previous.some((p) => same(p, c)) || (current !== undefined && same(c, current))) continue
    if (carry(c, 'previous')) notes.push(`dropped the previous CA ${describe(c)} from the bundle: no certificate it signed is served any more`)
  }
  for (const c of previous) notes.push(`carrying the CA ${describe(c)} that signed the certificate being replaced`)
  const prev = previous.map((c) => c.toString())
  if (!ca.ok) return { issue: 'ca', previous: prev, reasons: [ca.error], notes }
  return { issue: 'leaf', ca: ca.value.pair, previous: prev, reasons: leafReasons, notes }
}

function compareBundle (label: string, text: string | undefined, want: readonly X509Certificate[]): string | undefined {
  const parsed = parseBundle(text)
  const lacks = want.filter((w) => !parsed.certs.some((c) => same(c, w)))
  const extra = parsed.certs.filter((c) => !want.some((w) => same(c, w)))
  const parts: string[] = []
  if (parsed.problem !== undefined && parsed.certs.length === 0) parts.push(parsed.problem)
  else {
    if (parsed.problem !== undefined) parts.push(parsed.problem)
    if (lacks.length > 0) parts.push(`lacks ${lacks.map(describe).join(', ')}`)
    if (extra.length > 0) parts.push(`holds ${extra.map(describe).join(', ')}, not wanted`)
  }
  return parts.length === 0 ? undefined : `${label} ${parts.join('; ')}`
}

/**
 * What to write so that the Secret holds `ca` and `leaf` and every caBundle holds the
 * bundle (`ca` then `previous`). Nothing when all is current; bundles are compared as sets
 * of certificates, so formatting alone never causes a write.
 */
export function writes (observed: Observed, ca: KeyPair, leaf: KeyPair, previous: readonly string[]): Writes {
  const want = [ca.cert, ...previous].map((p) => parseCertificate(p))
  const bundle = want.map((c) => c.toString()).join('')
  const secretData: Record<string, string> = { [TLS_CERT]: leaf.cert, [TLS_KEY]: leaf.key, [CA_CERT]: bundle, [CA_KEY]: ca.key }
  const reasons: string[] = []
  const secret = observed.secret
  let secretStale = secret === undefined
  if (secret !== undefined) {
    const changed = [TLS_CERT, TLS_KEY, CA_KEY].some((k) => secret[k] !== secretData[k])
    const caCrt = compareBundle(CA_CERT, secret[CA_CERT], want)
    if (caCrt !== undefined && !changed) reasons.push(caCrt)
    secretStale = changed || caCrt !== undefined
  }
  const webhooks: string[] = []
  for (const w of observed.webhooks) {
    const wrong = compareBundle(`the caBundle of webhook ${w.name}`, w.caBundle, want)
    if (wrong === undefined) continue
    webhooks.push(w.name)
    reasons.push(wrong)
  }
  return { bundle, secretData: secretStale ? secretData : undefined, webhooks, reasons }
}
