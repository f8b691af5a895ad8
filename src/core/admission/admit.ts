// admit(): the webhook's answer to one AdmissionRequest, and the offline `inject`'s. Pure,
// and total: whatever the request holds, it returns an answer and never throws.
//
// Outcomes (the `result` label of egress_mtls_admission_requests_total):
// - injected: allowed with a non-empty patch that injects targets (adding, and perhaps
//   removing, egress-mtls's keys);
// - removed: allowed with a patch that only removes egress-mtls's keys: the workload opted
//   out, or none of its targets applies any more;
// - unchanged: targets to inject, and the pod template already carries exactly them;
// - skipped: nothing for egress-mtls to do: an operation other than CREATE/UPDATE, a kind
//   without a pod template, a ReplicaSet a Deployment controls (its Deployment is injected),
//   a workload not opted in (or opted in with no target) that
//   carries nothing of ours; warnings say why when the workload asked for something;
//   an UPDATE of a Job whose pod template differs from what would be injected now (a Job's
//   pod template cannot change after creation: see workloads.ts), with a warning;
// - denied: allowed: false, status 400 BadRequest, the message names the annotation. Never
//   for an UPDATE of a Job: its template cannot change, so the UPDATE (a label, the garbage
//   collector's finalizer removal) is allowed as it is, with the reason as a warning;
// - error: the object cannot be read as its kind (not an object, metadata, labels or
//   annotations of the wrong type, no pod template): allowed unchanged, with a warning.
// The namespace is request.namespace, else the object's metadata.namespace, else "default".
// request.dryRun changes nothing: the webhook has no side effects.
// Every warning and denial is a message of the catalogue (messages.ts); the `egress-mtls: `
// users read before each is put here, where the answer is made.
import { isRecord, isStringMap, NO_STRINGS } from '../base/json.ts'
import { memo } from '../base/memo.ts'
import { INJECTED_ANNOTATION, PROXY_CONFIG } from '../base/names.ts'
import { fail, ok, type Result } from '../base/result.ts'
import type { Config } from '../config/config.ts'
import type { AdmissionRequest, AdmissionResponse } from './admission-review.ts'
import { type Message, message } from './messages.ts'
import { mutatePodTemplate, type Mutation, mutationKey, type PatchOperation, type TemplateMetadata } from './mutate.ts'
import { decide, misplacedOptIn, misplacedTargets } from './policy.ts'
import { proxyConfigKept } from './proxy-stats.ts'
import { controlledByDeployment, podTemplateAt, workloadKind } from './workloads.ts'

export type { PatchOperation } from './mutate.ts'

export type Outcome = 'injected' | 'removed' | 'unchanged' | 'skipped' | 'denied' | 'error'

export interface Admission {
  readonly response: AdmissionResponse
  readonly result: Outcome
  /**
   * Shared with every review of the same inputs, and frozen: apply it with applyPatch()
   * (apply-patch.ts), which copies its values.
   */
  readonly patch: readonly PatchOperation[]
  /** The response's warnings by code, without the `egress-mtls: ` the response puts before each. */
  readonly warnings: readonly Message[]
  /** The denial, when the response is one: its status message without the prefix. */
  readonly denial?: Message
}

/** A patch, and the base64 of its JSON as the AdmissionResponse carries it. */
interface EncodedPatch { readonly patch: readonly PatchOperation[], readonly base64: string }
type Encoded = Result<EncodedPatch, Message>

// Kept per configuration: up to 256 distinct pod-template inputs (keys) of at most 4 KiB
// each, a few megabytes at worst; typical keys (our annotations for a few targets and a
// user volume or two) are well under 2 KiB.
const mutations = memo<Encoded>(256, 4096)

export function admit (request: AdmissionRequest, config: Config): Admission {
  try {
    return review(request, config)
  } catch (err) {
    // Not expected: every shape is checked below. The request is let through as it is.
    return answer(request, 'error', NO_PATCH, [message('EMTLS_INTERNAL_ERROR', err)])
  }
}

function review (request: AdmissionRequest, config: Config): Admission {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return answer(request, 'skipped')
  const kind = isRecord(request.kind) ? workloadKind(request.kind) : undefined
  if (kind === undefined) return answer(request, 'skipped')
  const { templatePath } = kind
  // A Job's pod template is injected on CREATE only: on UPDATE it is compared, never patched.
  const frozen = request.operation === 'UPDATE' && !kind.templateMutable

  const object = request.object
  if (!isRecord(object)) return unreadable(request, message('EMTLS_OBJECT_UNREADABLE', 'the object', 'a JSON object'))
  const metadata = object['metadata'] ?? {}
  if (!isRecord(metadata)) return unreadable(request, message('EMTLS_OBJECT_UNREADABLE', 'metadata', 'an object'))
  if (controlledByDeployment(request.kind.kind, metadata['ownerReferences'])) return answer(request, 'skipped')
  const labels = metadata['labels'] ?? NO_STRINGS
  if (!isStringMap(labels)) return unreadable(request, message('EMTLS_OBJECT_UNREADABLE', 'metadata.labels', 'a map of strings'))
  const annotations = metadata['annotations'] ?? NO_STRINGS
  if (!isStringMap(annotations)) return unreadable(request, message('EMTLS_OBJECT_UNREADABLE', 'metadata.annotations', 'a map of strings'))
  const namespace = nonEmpty(request.namespace) ?? nonEmpty(metadata['namespace']) ?? 'default'
  const decision = decide(config, namespace, labels, annotations)
  const { targets } = decision
  let { warnings } = decision
  if (decision.denied !== undefined) {
    if (!frozen) return deny(request, decision.denied, warnings)
    return answer(request, 'skipped', NO_PATCH, [...warnings, message('EMTLS_JOB_TEMPLATE_REFUSED', request.kind.kind, said(decision.denied))])
  }

  const template = podTemplateAt(object, templatePath)
  if (!isRecord(template)) {
    return targets.length === 0
      ? answer(request, 'skipped', NO_PATCH, warnings)
      : unreadable(request, message('EMTLS_OBJECT_UNREADABLE', templatePath.join('.'), 'an object'), warnings)
  }
  const read = templateMetadata(template['metadata'], templatePath.join('.'))
  if (!read.ok) return unreadable(request, read.error, warnings)
  const meta = read.value

  const misplaced = misplacedOptIn(config, request.kind.kind, labels, meta.labels ?? NO_STRINGS) ??
    misplacedTargets(request.kind.kind, annotations, meta.annotations ?? NO_STRINGS, targets)
  if (misplaced !== undefined) warnings = [...warnings, misplaced]
  const encoded = (): Encoded => encode(mutatePodTemplate(templatePath, meta, targets, config))
  const mutation = mutations(config, mutationKey(templatePath, meta, targets), encoded)
  if (frozen) {
    if (!mutation.ok) return answer(request, 'skipped', NO_PATCH, [...warnings, message('EMTLS_JOB_TEMPLATE_REFUSED', request.kind.kind, said(mutation.error))])
    if (mutation.value.patch.length === 0) return answer(request, targets.length > 0 ? 'unchanged' : 'skipped', NO_PATCH, warnings)
    const had = (meta.annotations?.[INJECTED_ANNOTATION] ?? '').slice(0, 200)
    const now = targets.map((t) => t.name).join(',')
    return answer(request, 'skipped', NO_PATCH, [...warnings, message('EMTLS_JOB_TEMPLATE_DIFFERS', request.kind.kind, had, now)])
  }
  if (!mutation.ok) return deny(request, mutation.error, warnings)
  const kept = proxyConfigKept(meta.annotations?.[PROXY_CONFIG], targets, config)
  if (kept !== undefined) warnings = [...warnings, message('EMTLS_PROXY_CONFIG_KEPT', kept)]
  return answer(request, allowedOutcome(mutation.value.patch.length > 0, targets.length > 0), mutation.value, warnings)
}

/** What an allowed answer did: patched or not, with targets to inject or none. */
function allowedOutcome (patched: boolean, injecting: boolean): Outcome {
  if (!patched) return injecting ? 'unchanged' : 'skipped'
  return injecting ? 'injected' : 'removed'
}

/** The one place where egress-mtls's messages get the prefix users read them with (a denial quoted in a warning too). */
const said = (m: Message): string => `egress-mtls: ${m.text}`

function deny (request: AdmissionRequest, denial: Message, warnings: readonly Message[]): Admission {
  return {
    response: {
      uid: request.uid,
      allowed: false,
      status: { code: 400, message: said(denial), reason: 'BadRequest' },
      ...(warnings.length === 0 ? {} : { warnings: warnings.map(said) }),
    },
    result: 'denied',
    patch: [],
    warnings,
    denial,
  }
}

function encode (mutation: Mutation): Encoded {
  if (!mutation.ok) return mutation
  const patch = mutation.value
  return ok({ patch, base64: patch.length === 0 ? '' : Buffer.from(JSON.stringify(patch)).toString('base64') })
}

function templateMetadata (value: unknown, where: string): Result<TemplateMetadata, Message> {
  if (value === undefined || value === null) return NO_METADATA
  if (!isRecord(value)) return fail(message('EMTLS_OBJECT_UNREADABLE', `${where}.metadata`, 'an object'))
  const labels = value['labels'] ?? undefined
  if (labels !== undefined && !isStringMap(labels)) return fail(message('EMTLS_OBJECT_UNREADABLE', `${where}.metadata.labels`, 'a map of strings'))
  const annotations = value['annotations'] ?? undefined
  if (annotations !== undefined && !isStringMap(annotations)) return fail(message('EMTLS_OBJECT_UNREADABLE', `${where}.metadata.annotations`, 'a map of strings'))
  return ok({ exists: true, labels, annotations })
}

const NO_METADATA = ok<TemplateMetadata>(Object.freeze({ exists: false }))

function unreadable (request: AdmissionRequest, why: Message, warnings: readonly Message[] = NO_WARNINGS): Admission {
  return answer(request, 'error', NO_PATCH, [...warnings, why])
}

const NO_WARNINGS: readonly Message[] = Object.freeze([])
const NO_PATCH: EncodedPatch = Object.freeze({ patch: Object.freeze([]), base64: '' })

function answer (
  request: AdmissionRequest, result: Outcome, { patch, base64 } = NO_PATCH, warnings: readonly Message[] = NO_WARNINGS,
): Admission {
  const response: AdmissionResponse = {
    uid: request.uid,
    allowed: true,
    ...(patch.length === 0 ? {} : { patchType: 'JSONPatch', patch: base64 }),
    ...(warnings.length === 0 ? {} : { warnings: warnings.map(said) }),
  }
  return { response, result, patch, warnings }
}

function nonEmpty (v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}
