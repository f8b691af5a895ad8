// The checks of `egress-mtls doctor` (docs/design.md "Commands"): what is found in the cluster
// in, a line per finding out. Pure: certificates are parsed and verified with node:crypto,
// nothing is read or written here.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import type { Config, Target } from './config.ts'
import { isRecord, jsonEqual, stringMap } from './json.ts'
import { INJECTED_ANNOTATION, INJECT_LABEL, NAMESPACE_LABEL } from './names.ts'
import { admit } from './review.ts'
import { groupVersionKind, podTemplatePath } from './workloads.ts'
import type { LiveObject } from './plan.ts'
import type { IstioObject } from './render.ts'

export type Level = 'ok' | 'warn' | 'fail'

export interface Finding {
  readonly level: Level
  readonly message: string
}

const ok = (message: string): Finding => ({ level: 'ok', message })
const warn = (message: string): Finding => ({ level: 'warn', message })
const fail = (message: string): Finding => ({ level: 'fail', message })

/** `ok Secret payments/bank-api-mtls: ...` */
export function formatFinding (f: Finding): string {
  return `${f.level} ${f.message}`
}

/** 1 when any finding fails, else 0. */
export function exitCode (findings: readonly Finding[]): 0 | 1 {
  return findings.some((f) => f.level === 'fail') ? 1 : 0
}

const DAY_MS = 24 * 60 * 60 * 1000
/** Warn when the client certificate has fewer days left than this. */
export const EXPIRY_WARNING_DAYS = 30
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0'
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

/** The certificates of a PEM text, in order; undefined when one block does not parse or there is none. */
function parseCerts (text: string): X509Certificate[] | undefined {
  const blocks = text.match(PEM_CERT) ?? []
  if (blocks.length === 0) return undefined
  try { return blocks.map((b) => new X509Certificate(b)) } catch { return undefined }
}

function parseKey (text: string): KeyObject | undefined {
  try { return createPrivateKey(text) } catch { return undefined }
}

function signedBy (child: X509Certificate, parent: X509Certificate): boolean {
  try { return child.checkIssued(parent) && child.verify(parent.publicKey) } catch { return false }
}

/**
 * The leaf chains to one of the CAs, possibly through intermediates that follow the leaf in
 * its own PEM (as a TLS client sends them).
 */
function chainsTo (chain: readonly X509Certificate[], cas: readonly X509Certificate[]): boolean {
  let current = chain[0]
  const intermediates = chain.slice(1)
  for (let depth = 0; current !== undefined && depth <= intermediates.length; depth++) {
    const child: X509Certificate = current
    if (cas.some((ca) => signedBy(child, ca))) return true
    current = intermediates.find((i) => signedBy(child, i))
  }
  return false
}

const date = (d: Date): string => d.toISOString().slice(0, 10)

/**
 * The Secret of `target` in `namespace`: present, with the three keys, the key matching the
 * certificate, the certificate chaining to the CA, and its days until expiry.
 * `data` is the Secret's data decoded to text, undefined when there is no such Secret.
 */
export function checkSecret (target: Target, namespace: string, data: Readonly<Record<string, string>> | undefined, now: Date): Finding[] {
  const at = `Secret ${namespace}/${target.secretName} (target ${target.name})`
  if (data === undefined) return [fail(`${at}: not found; create it with keys ${target.secretKeys.cert}, ${target.secretKeys.key}, ${target.secretKeys.cacert}`)]
  const { cert: certKey, key: keyKey, cacert: caKey } = target.secretKeys
  const missing = [certKey, keyKey, caKey].filter((k) => (data[k] ?? '').trim() === '')
  if (missing.length > 0) return [fail(`${at}: missing or empty key${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`)]
  const findings: Finding[] = [ok(`${at}: keys ${certKey}, ${keyKey}, ${caKey} present`)]

  const chain = parseCerts(data[certKey] ?? '')
  const key = parseKey(data[keyKey] ?? '')
  const cas = parseCerts(data[caKey] ?? '')
  if (chain === undefined) findings.push(fail(`${at}: ${certKey} is not a PEM certificate`))
  if (key === undefined) findings.push(fail(`${at}: ${keyKey} is not a PEM private key`))
  if (cas === undefined) findings.push(fail(`${at}: ${caKey} is not a PEM certificate bundle`))
  const leaf = chain?.[0]
  if (leaf === undefined || chain === undefined) return findings

  if (key !== undefined) {
    let matches = false
    try { matches = leaf.checkPrivateKey(key) } catch { matches = false }
    findings.push(matches ? ok(`${at}: ${keyKey} matches the certificate`) : fail(`${at}: ${keyKey} does not match the certificate in ${certKey}`))
  }
  if (cas !== undefined) {
    findings.push(chainsTo(chain, cas)
      ? ok(`${at}: the certificate chains to the CA in ${caKey}`)
      : fail(`${at}: the certificate is not signed by the CA in ${caKey} (issuer ${leaf.issuer.replace(/\n/g, ', ')})`))
  }
  const usages = leaf.keyUsage as string[] | undefined // Node's name for the extended key usages
  if (usages !== undefined && !usages.includes(CLIENT_AUTH) && !usages.includes(ANY_EXTENDED_KEY_USAGE)) {
    findings.push(warn(`${at}: the certificate's extended key usage does not include clientAuth; the server may refuse it`))
  }

  const notBefore = new Date(leaf.validFrom)
  const notAfter = new Date(leaf.validTo)
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS)
  if (now < notBefore) findings.push(fail(`${at}: the certificate is not valid before ${date(notBefore)}`))
  if (now >= notAfter) findings.push(fail(`${at}: the certificate expired on ${date(notAfter)}`))
  else if (daysLeft < EXPIRY_WARNING_DAYS) findings.push(warn(`${at}: the certificate expires in ${daysLeft} days (${date(notAfter)})`))
  else findings.push(ok(`${at}: the certificate expires in ${daysLeft} days (${date(notAfter)})`))
  return findings
}

/** A rendered Istio object against the live one: present, ours, and with the rendered spec. */
export function checkResource (desired: IstioObject, live: LiveObject | undefined): Finding {
  const at = `${desired.kind} ${desired.metadata.namespace}/${desired.metadata.name}`
  if (live === undefined) return fail(`${at}: not found; run egress-mtls provision`)
  const labels = live.metadata.labels ?? {}
  const lost = Object.entries(desired.metadata.labels).filter(([k, v]) => labels[k] !== v).map(([k, v]) => `${k}=${v}`)
  if (lost.length > 0) return fail(`${at}: lacks the label${lost.length > 1 ? 's' : ''} ${lost.join(', ')}; run egress-mtls provision`)
  const diff = differences(desired.spec, live.spec, 'spec')
  if (diff.length > 0) return fail(`${at}: differs from what render produces at ${diff.slice(0, 5).join(', ')}${diff.length > 5 ? ', ...' : ''}; run egress-mtls provision`)
  return ok(`${at}: as rendered`)
}

/** JSON paths where two values differ (`spec.trafficPolicy.portLevelSettings[0].tls.mode`). */
export function differences (want: unknown, got: unknown, path: string): string[] {
  if (jsonEqual(want, got)) return []
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
  if (Array.isArray(want) && Array.isArray(got) && want.length === got.length) {
    return want.flatMap((w, i) => differences(w, got[i], `${path}[${i}]`))
  }
  if (isObject(want) && isObject(got)) {
    const keys = [...new Set([...Object.keys(want), ...Object.keys(got)])]
    return keys.flatMap((k) => differences(want[k], got[k], `${path}.${k}`))
  }
  return [path]
}

/** Istio's sidecar injection for the namespace (or the workload's own pod-template label). */
export function checkSidecarInjection (namespace: string, labels: Readonly<Record<string, string>>, podLabels: Readonly<Record<string, string>> = {}): Finding {
  const at = `Namespace ${namespace}`
  const pod = podLabels['sidecar.istio.io/inject']
  if (pod === 'false') return fail(`${at}: the workload's pod template sets sidecar.istio.io/inject=false; it has no sidecar to do mTLS`)
  if (labels['istio-injection'] === 'enabled') return ok(`${at}: Istio sidecar injection enabled (istio-injection=enabled)`)
  if (labels['istio-injection'] === 'disabled') return warn(`${at}: Istio sidecar injection is disabled (istio-injection=disabled); pods without a sidecar call the external system in plain HTTP`)
  const rev = labels['istio.io/rev']
  if (rev !== undefined) return ok(`${at}: Istio sidecar injection enabled (istio.io/rev=${rev})`)
  if (pod === 'true') return ok(`${at}: Istio sidecar injection enabled for the workload (sidecar.istio.io/inject=true)`)
  return warn(`${at}: Istio sidecar injection is not enabled (label the namespace istio-injection=enabled or istio.io/rev=<revision>); pods without a sidecar call the external system in plain HTTP`)
}

/** A workload as read from the API (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob). */
export interface Workload {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly labels?: Readonly<Record<string, string>>
    readonly annotations?: Readonly<Record<string, string>>
  }
  readonly spec?: unknown
}

/** The pod template's labels and annotations, wherever the kind keeps its template. */
export function podTemplateMetadata (w: Workload): { labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>> } {
  let node: unknown = w
  for (const field of podTemplatePath(groupVersionKind(w.apiVersion, w.kind)) ?? []) node = isRecord(node) ? node[field] : undefined
  const metadata = isRecord(node) && isRecord(node['metadata']) ? node['metadata'] : {}
  const labels = stringMap(metadata['labels'])
  const annotations = stringMap(metadata['annotations'])
  return { labels: labels === false ? {} : labels ?? {}, annotations: annotations === false ? {} : annotations ?? {} }
}

/**
 * The workload is injected as the webhook would inject it now: the webhook's own decision
 * (admit) on the live object answers "unchanged". `namespaceLabels` cover the part of the
 * rule the API server applies (namespace mode).
 */
export function checkWorkload (config: Config, namespace: string, namespaceLabels: Readonly<Record<string, string>>, w: Workload): Finding[] {
  const at = `${w.kind.toLowerCase()}/${w.metadata.name}`
  const findings: Finding[] = []
  if (config.injection === 'namespace' && namespaceLabels[NAMESPACE_LABEL] !== 'enabled') {
    findings.push(fail(`${at}: namespace ${namespace} is not labelled ${NAMESPACE_LABEL}=enabled (injection: namespace), so the webhook does not see its workloads`))
  }
  const { response, result, patch } = admit({
    uid: 'egress-mtls-doctor',
    kind: groupVersionKind(w.apiVersion, w.kind),
    namespace,
    name: w.metadata.name,
    operation: 'UPDATE',
    object: w,
  }, config)
  const warnings = (response.warnings ?? []).map((s) => s.replace(/^egress-mtls: /, ''))
  const injected = podTemplateMetadata(w).annotations[INJECTED_ANNOTATION]
  switch (result) {
    case 'unchanged':
      findings.push(ok(`${at}: injected with ${injected ?? '?'} (pod template as the webhook makes it)`))
      break
    case 'injected': {
      const keys = [...new Set(patch.map((p) => (p.path.split('/').at(-1) ?? '').replaceAll('~1', '/').replaceAll('~0', '~')))]
      findings.push(fail(injected === undefined
        ? `${at}: not injected (no ${INJECTED_ANNOTATION} on the pod template); with the webhook running, re-apply it or run kubectl rollout restart ${at}`
        : `${at}: injected with ${injected}, but the webhook would now change ${keys.join(', ')}; re-apply it or run kubectl rollout restart ${at}`))
      break
    }
    case 'skipped':
      if (warnings.length > 0) for (const m of warnings) findings.push(fail(`${at}: ${m}`))
      else findings.push(fail(`${at}: not opted in (${optIn(config, w)})`))
      break
    case 'denied':
      findings.push(fail(`${at}: the webhook denies it: ${response.status?.message ?? 'no reason given'}`))
      break
    case 'error':
      for (const m of warnings) findings.push(fail(`${at}: ${m}`))
      break
  }
  return findings
}

function optIn (config: Config, w: Workload): string {
  if (w.metadata.labels?.[INJECT_LABEL] === 'false') return `it is labelled ${INJECT_LABEL}=false`
  return config.injection === 'label' ? `label it ${INJECT_LABEL}=true` : 'no target is available to it'
}
