// certs: make or renew the webhook's serving certificate, store it in the Secret and set
// caBundle on every webhook of the MutatingWebhookConfiguration (or, uninstalling, delete
// the Secret certs made). One line per thing done and why; never key material.
import type { KubeConfig } from '@kubernetes/client-node'

import { decide, type KeyPair, type Policy, renewalDue, serviceDnsNames, writes } from '../core/tls/certs.ts'
import { date, describe, parseBundle, parseCertificate } from '../core/tls/x509.ts'
import { cliErrorFrom } from '../errors.ts'
import { generateCa, generateLeaf } from '../pki/generate.ts'
import { apiFailure } from './api-failure.ts'
import { type CertsClient, certsClient, type CertsTarget, isConflict, TLS_SECRET_TYPE } from './certs-client.ts'
import { withRetry } from './retry.ts'

export interface CertsOptions {
  /** The Service the webhook is reached at (in the target's namespace): the leaf's DNS names. */
  readonly service: string
  readonly caValidityDays: number
  readonly leafValidityDays: number
  readonly renewFraction: number
  /** Delete the Secret instead (uninstall). */
  readonly uninstall: boolean
  /** A line of what was done or found, and why. */
  readonly log: (line: string) => void
}

/** Runs that find their writes overtaken by another writer start over this many times. */
const ATTEMPTS = 3

/** One run of `certs` (or `certs --uninstall`); an OperationError names what failed. */
export async function certs (kc: KubeConfig, target: CertsTarget, options: CertsOptions): Promise<void> {
  const { log } = options
  const client = certsClient(kc, target)
  try {
    await withRetry(() => options.uninstall ? uninstall(client, target, log) : once(client, target, options), {
      deadline: Infinity, // only ATTEMPTS bounds the tries
      attempts: ATTEMPTS,
      baseDelayMs: 0, // a conflict is resolved by reading again, not by waiting
      retryable: isConflict,
      onRetry: (f) => { log(`another writer changed the Secret or the webhook configuration meanwhile (${f.message}); starting over`) },
    })
  } catch (err) {
    throw cliErrorFrom(err, 'EMTLS_CLI_CERTS_FAILED', apiFailure(err).message)
  }
}

/**
 * `certs --uninstall` (the chart's pre-delete hook): deletes the Secret if `certs` made it
 * (type kubernetes.io/tls with the CA key beside the leaf, which only `certs` stores), on the
 * version read. Anything else at that name is left alone.
 */
async function uninstall (client: CertsClient, target: CertsTarget, log: (line: string) => void): Promise<void> {
  const secretName = `Secret ${target.namespace}/${target.secret}`
  const { secret } = await client.read()
  if (secret === undefined) {
    log(`${secretName} does not exist: nothing to delete`)
    return
  }
  if (secret.type !== TLS_SECRET_TYPE || !('ca.key' in secret.data)) {
    log(`${secretName} was not made by egress-mtls certs (type ${secret.type}, ${'ca.key' in secret.data ? 'with' : 'no'} ca.key): left alone`)
    return
  }
  await client.deleteSecret(secret)
  log(`${secretName} deleted`)
}

async function once (client: CertsClient, target: CertsTarget, o: CertsOptions): Promise<void> {
  const { log } = o
  const secretName = `Secret ${target.namespace}/${target.secret}`
  const configName = `MutatingWebhookConfiguration ${target.webhook}`
  const stored = await client.read()
  if (stored.webhooks === undefined) log(`${configName} does not exist (yet): only the Secret is made; run again once it exists to set its caBundle`)
  if (stored.secret !== undefined && stored.secret.type !== TLS_SECRET_TYPE) {
    log(`${secretName} has type ${stored.secret.type}, not ${TLS_SECRET_TYPE} (a type cannot be changed: delete the Secret to have it recreated)`)
  }
  const observed = { secret: stored.secret?.data, webhooks: stored.webhooks?.webhooks ?? [] }
  const policy: Policy = {
    dnsNames: serviceDnsNames(o.service, target.namespace), leafValidityDays: o.leafValidityDays, renewFraction: o.renewFraction,
  }
  const now = new Date()
  const d = decide(observed, policy, now)
  for (const note of d.notes) log(note)

  let ca: KeyPair
  let leaf: KeyPair
  if (d.issue === 'none') {
    ({ ca, leaf } = d)
  } else {
    if (d.issue === 'ca') {
      ca = await generateCa(now, o.caValidityDays)
      log(`new CA ${describe(parseCertificate(ca.cert))}: ${d.reasons.join('; ')}`)
    } else {
      ca = d.ca
    }
    leaf = await generateLeaf(ca, policy.dnsNames, now, o.leafValidityDays)
    log(`new serving certificate for ${policy.dnsNames.join(', ')} ${describe(parseCertificate(leaf.cert))}: ${d.issue === 'ca' ? 'signed by the new CA' : d.reasons.join('; ')}`)
  }
  const w = writes(observed, ca, leaf, d.previous)
  for (const reason of w.reasons) log(`repair: ${reason}`)

  if (w.secretData === undefined && w.webhooks.length === 0) {
    const l = parseCertificate(leaf.cert)
    log(`all current, nothing written: the serving certificate is valid until ${date(l.validToDate)} and is renewed from ${date(renewalDue(l, o.renewFraction))}; the CA is valid until ${date(parseCertificate(ca.cert).validToDate)}`)
    return
  }
  const cas = `${String(parseBundle(w.bundle).certs.length)} CA(s)`
  // Order of writes: the caBundle first, the Secret after. The bundle written now trusts both
  // the CA of the leaf the pods serve at this moment and the CA of the leaf about to be
  // stored, so whichever leaf a pod serves while kubelet updates its Secret volume, the API
  // server accepts it. Switching the Secret first would let a pod serve a leaf of a new CA
  // that the API server does not trust yet: every admission would fail (failurePolicy Fail).
  if (stored.webhooks !== undefined && w.webhooks.length > 0) {
    const rv = await client.setCaBundle(stored.webhooks, w.webhooks, w.bundle)
    log(`caBundle set on ${w.webhooks.join(', ')} of ${configName} (${cas}; resourceVersion ${rv})`)
  }
  if (w.secretData !== undefined) {
    const rv = await client.writeSecret(stored.secret, w.secretData)
    log(`${secretName} ${stored.secret === undefined ? 'created' : 'updated'} (${cas} in ca.crt; resourceVersion ${rv})`)
  }
}
