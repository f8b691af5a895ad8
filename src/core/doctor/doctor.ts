// The checks of `doctor` (docs/design.md "Commands") on Istio objects, workloads and namespaces:
// what is found in the cluster in, a finding per check out. Pure: nothing is read or written
// here. The client material's checks are in client-material.ts.
import { admit } from '../admission/admit.ts'
import { decide } from '../admission/policy.ts'
import { controlledByDeployment, groupVersionKind, podTemplateAt, syntheticRequest, workloadKind } from '../admission/workloads.ts'
import { about, type Finding } from '../base/findings.ts'
import { isRecord, isStringMap, jsonEqual, pointerTokens } from '../base/json.ts'
import { INJECT_LABEL, INJECTED_ANNOTATION, NAMESPACE_LABEL, TARGETS_ANNOTATION } from '../base/names.ts'
import { type Config, type Target, targetsForNamespace } from '../config/config.ts'
import { type LiveObject, managedBody } from '../istio/plan.ts'
import type { IstioObject } from '../istio/render.ts'

/**
 * `verifyServerName: false`: the sidecar then checks only that the server's chain leads to
 * cacert, for any name.
 */
export function checkServerNameVerification (target: Target): Finding | undefined {
  return !target.verifyServerName
    ? about(`target ${target.name}`).warn(`verifyServerName is false: the sidecar accepts any server certificate cacert verifies, whatever name it carries (not only ${target.sni})`)
    : undefined
}

/** A rendered Istio object against the live one: present, ours, and with the rendered spec. */
export function checkResource (desired: IstioObject, live: LiveObject | undefined): Finding {
  const { ok, fail } = about(`${desired.kind} ${desired.metadata.namespace}/${desired.metadata.name}`)
  if (live === undefined) return fail('not found; run egress-mtls provision')
  const labels = live.metadata.labels ?? {}
  const lost = Object.entries(desired.metadata.labels).filter(([k, v]) => labels[k] !== v).map(([k, v]) => `${k}=${v}`)
  if (lost.length > 0) return fail(`lacks the label${lost.length > 1 ? 's' : ''} ${lost.join(', ')}; run egress-mtls provision`)
  // A Role's rules, a RoleBinding's subjects and roleRef, else the spec.
  const diff = desired.spec === undefined ? differences(managedBody(desired), managedBody(live), desired.kind) : differences(desired.spec, live.spec, 'spec')
  if (diff.length > 0) return fail(`differs from what render produces at ${diff.slice(0, 5).join(', ')}${diff.length > 5 ? ', ...' : ''}; run egress-mtls provision`)
  return ok('as rendered')
}

/** JSON paths where two values differ (`spec.trafficPolicy.portLevelSettings[0].tls.mode`). */
export function differences (want: unknown, got: unknown, path: string): string[] {
  if (jsonEqual(want, got)) return []
  if (Array.isArray(want) && Array.isArray(got) && want.length === got.length) {
    return want.flatMap((w, i) => differences(w, got[i], `${path}[${i}]`))
  }
  if (isRecord(want) && isRecord(got)) {
    const keys = [...new Set([...Object.keys(want), ...Object.keys(got)])]
    return keys.flatMap((k) => differences(want[k], got[k], `${path}.${k}`))
  }
  return [path]
}

/** Istio's sidecar injection for the namespace (or the workload's own pod-template label). */
export function checkSidecarInjection (namespace: string, labels: Readonly<Record<string, string>>, podLabels: Readonly<Record<string, string>> = {}): Finding {
  const { ok, warn, fail } = about(`Namespace ${namespace}`)
  const pod = podLabels['sidecar.istio.io/inject']
  if (pod === 'false') return fail('the workload\'s pod template sets sidecar.istio.io/inject=false; it has no sidecar to do mTLS')
  if (labels['istio-injection'] === 'enabled') return ok('Istio sidecar injection enabled (istio-injection=enabled)')
  if (labels['istio-injection'] === 'disabled') return warn('Istio sidecar injection is disabled (istio-injection=disabled); pods without a sidecar call the external system in plain HTTP')
  const rev = labels['istio.io/rev']
  if (rev !== undefined) return ok(`Istio sidecar injection enabled (istio.io/rev=${rev})`)
  if (pod === 'true') return ok('Istio sidecar injection enabled for the workload (sidecar.istio.io/inject=true)')
  return warn('Istio sidecar injection is not enabled (label the namespace istio-injection=enabled or istio.io/rev=<revision>); pods without a sidecar call the external system in plain HTTP')
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
    readonly ownerReferences?: readonly unknown[]
  }
  readonly spec?: unknown
}

/** The pod template's labels and annotations, wherever the kind keeps its template. */
export function podTemplateMetadata (w: Workload): { labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>> } {
  const node = podTemplateAt(w, workloadKind(groupVersionKind(w.apiVersion, w.kind))?.templatePath ?? [])
  const metadata = isRecord(node) && isRecord(node['metadata']) ? node['metadata'] : {}
  const { labels, annotations } = metadata
  return { labels: isStringMap(labels) ? labels : {}, annotations: isStringMap(annotations) ? annotations : {} }
}

const workloadName = (w: Workload): string => `${w.kind.toLowerCase()}/${w.metadata.name}`

/**
 * The workload is injected as the webhook would inject it now: the webhook's own decision
 * (admit) on the live object answers "unchanged". `namespaceLabels` cover the part of the
 * rule the API server applies (namespace mode); in label mode the API server sends the
 * webhook only workloads labelled egress-mtls.io/inject=true (its objectSelector), so a
 * workload labelled otherwise never gets the webhook's warning: doctor says so.
 */
export function checkWorkload (config: Config, namespace: string, namespaceLabels: Readonly<Record<string, string>>, w: Workload, offline = false): Finding[] {
  const at = workloadName(w)
  const { ok, warn, fail } = about(at)
  const findings: Finding[] = []
  if (config.injection === 'namespace' && namespaceLabels[NAMESPACE_LABEL] !== 'enabled') {
    findings.push(fail(`namespace ${namespace} is not labelled ${NAMESPACE_LABEL}=enabled (injection: namespace), so the webhook does not see its workloads`))
  }
  const { response, result, patch, warnings } = admit(syntheticRequest(w, 'egress-mtls-doctor', 'UPDATE', namespace), config)
  const injected = podTemplateMetadata(w).annotations[INJECTED_ANNOTATION]
  switch (result) {
    case 'unchanged':
      findings.push(ok(`injected with ${injected ?? '?'} (pod template as the webhook makes it)`))
      findings.push(...presents(config, namespace, w).map((line) => ok(line)))
      for (const m of warnings) findings.push(warn(m.text))
      break
    case 'injected':
    case 'removed': {
      const keys = [...new Set(patch.map((p) => pointerTokens(p.path).at(-1) ?? ''))]
      // A manifest is injected when it is applied: offline, that is what is to be expected.
      if (offline) {
        findings.push(injected === undefined
          ? ok(`the webhook injects it when it is applied, with ${targetsOf(patch) || 'its targets'} (egress-mtls inject shows how)`)
          : warn(`injected with ${injected} in the file, but the webhook would now change ${keys.join(', ')} when it is applied; run egress-mtls inject on it again`))
        break
      }
      findings.push(fail(injected === undefined
        ? `not injected (no ${INJECTED_ANNOTATION} on the pod template); with the webhook running, re-apply it or run kubectl rollout restart ${at}`
        : `injected with ${injected}, but the webhook would now change ${keys.join(', ')}; re-apply it or run kubectl rollout restart ${at}`))
      break
    }
    case 'skipped':
      if (warnings.length > 0) for (const m of warnings) findings.push(fail(m.text))
      else findings.push(fail(`not opted in (${optIn(config, w)})`))
      break
    case 'denied':
      findings.push(fail(`the webhook denies it: ${response.status?.message ?? 'no reason given'}`))
      break
    case 'error':
      for (const m of warnings) findings.push(fail(m.text))
      break
  }
  const label = w.metadata.labels?.[INJECT_LABEL]
  if (config.injection === 'label' && label !== 'true' && label !== 'false' && (warnings.length > 0 || result === 'injected')) {
    findings.push(fail(`the webhook never sees it: in label mode its objectSelector matches ${INJECT_LABEL}: "true" on the ${w.kind} itself only, so kubectl shows no warning; label the ${w.kind} ${INJECT_LABEL}=true`))
  }
  return findings
}

/** The targets a patch records in egress-mtls.io/injected. */
function targetsOf (patch: readonly { readonly path: string, readonly value?: unknown }[]): string {
  const record = patch.find((p) => p.path.endsWith(`/${INJECTED_ANNOTATION.replaceAll('/', '~1')}`))?.value
  const fromMap = patch.map((p) => isRecord(p.value) ? p.value[INJECTED_ANNOTATION] : undefined).find((v) => typeof v === 'string')
  const v = typeof record === 'string' ? record : fromMap
  return typeof v === 'string' ? v : ''
}

/**
 * Which client certificate the workload presents to which host: one line per target the
 * webhook gives it (`to api.bank.example.com: target merchant-a, Secret merchant-a-mtls`).
 */
function presents (config: Config, namespace: string, w: Workload): string[] {
  const { targets } = decide(config, namespace, w.metadata.labels ?? {}, w.metadata.annotations ?? {})
  return targets.map((t) => t.origination === 'egressGateway'
    ? `calls ${t.host} through the egress gateway, which presents the client certificate of target ${t.name} (Secret ${config.egressGateway.namespace}/${t.secretName})`
    : `presents to ${t.host} the client certificate of target ${t.name} (Secret ${namespace}/${t.secretName})`)
}

function optIn (config: Config, w: Workload): string {
  if (w.metadata.labels?.[INJECT_LABEL] === 'false') return `it is labelled ${INJECT_LABEL}=false`
  return config.injection === 'label' ? `label it ${INJECT_LABEL}=true` : 'no target is available to it'
}

/** A ReplicaSet of a Deployment or a Job of a CronJob: its owner is the workload to check. */
function controlled (w: Workload): boolean {
  const refs = w.metadata.ownerReferences
  return controlledByDeployment(w.kind, refs) ||
    (w.kind === 'Job' && Array.isArray(refs) && refs.some((o: unknown) => isRecord(o) && o['controller'] === true && o['kind'] === 'CronJob'))
}

/** The workload asks for egress-mtls, or carries something of it, anywhere a user may have put it. */
function concerned (config: Config, w: Workload): boolean {
  const label = w.metadata.labels?.[INJECT_LABEL]
  if (label === 'false') return false
  const template = podTemplateMetadata(w)
  return config.injection !== 'label' || label !== undefined || template.labels[INJECT_LABEL] !== undefined ||
    w.metadata.annotations?.[TARGETS_ANNOTATION] !== undefined || template.annotations[INJECTED_ANNOTATION] !== undefined
}

/**
 * `doctor` without a workload: every workload of the namespace that asks for egress-mtls
 * (the opt-in label with any value, on the workload or only on its pod template, the targets
 * annotation, or our annotation on its pod template; in namespace and cluster modes, every
 * workload not opted out) is checked as checkWorkload does, then a count. The webhook's own
 * warnings never reach kubectl for the workloads label mode's objectSelector hides from it:
 * this scan is where they are found.
 */
export function scanNamespace (
  config: Config,
  namespace: string,
  namespaceLabels: Readonly<Record<string, string>>,
  workloads: readonly Workload[],
  offline = false,
): Finding[] {
  const { ok, fail } = about(`Namespace ${namespace}`)
  const own = workloads.filter((w) => !controlled(w))
  const asking = own.filter((w) => concerned(config, w))
  if (config.injection === 'namespace' && namespaceLabels[NAMESPACE_LABEL] !== 'enabled') {
    return targetsForNamespace(config, namespace).length === 0 || asking.length === 0
      ? []
      : [fail(`not labelled ${NAMESPACE_LABEL}=enabled (injection: namespace): the webhook sees none of its ${asking.length} workload${asking.length === 1 ? '' : 's'}`)]
  }
  const checked = asking.map((w) => checkWorkload(config, namespace, namespaceLabels, w, offline))
  const findings = checked.flat()
  // Only a workload injected as the webhook makes it has ok findings.
  const injected = checked.filter((f) => f.some((x) => x.level === 'ok')).length
  findings.push(ok(`${own.length} workload${own.length === 1 ? '' : 's'} scanned, ${asking.length} asking for egress-mtls, ${injected} ${offline ? 'to be injected or injected' : 'injected'} as the webhook makes ${injected === 1 ? 'it' : 'them'}`))
  return findings
}
