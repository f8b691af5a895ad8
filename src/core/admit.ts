// admit(): the webhook's answer to one AdmissionRequest, and the offline `inject`'s. Pure,
// and total: whatever the request holds, it returns an answer and never throws.
//
// Results (the `result` label of egress_mtls_admission_requests_total):
// - injected: allowed with a non-empty patch (adding and/or removing egress-mtls's keys);
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
import type { AdmissionRequest, AdmissionResponse } from './admission-review.ts'
import type { Config } from './config.ts'
import { isRecord, stringMap } from './json.ts'
import { memo } from './memo.ts'
import { mutatePodTemplate, type Mutation, mutationKey, type PatchOperation, type TemplateMetadata } from './mutate.ts'
import { INJECTED_ANNOTATION } from './names.ts'
import { decide, misplacedOptIn } from './policy.ts'
import { controlledByDeployment, podTemplateAt, workloadKind } from './workloads.ts'

export type { PatchOperation } from './mutate.ts'

export type Result = 'injected' | 'unchanged' | 'skipped' | 'denied' | 'error'

export interface Admission {
  readonly response: AdmissionResponse
  readonly result: Result
  /**
   * Shared with every review of the same inputs, and frozen: apply it with applyPatch()
   * (apply-patch.ts), which copies its values.
   */
  readonly patch: readonly PatchOperation[]
}

/** A patch, and the base64 of its JSON as the AdmissionResponse carries it. */
interface EncodedPatch { readonly patch: readonly PatchOperation[], readonly base64: string }
type Encoded = { readonly denied: string } | EncodedPatch

// Kept per configuration: up to 256 distinct pod-template inputs (keys) of at most 4 KiB
// each, a few megabytes at worst; typical keys (our annotations for a few targets and a
// user volume or two) are well under 2 KiB.
const mutations = memo<Encoded>(256, 4096)

export function admit (request: AdmissionRequest, config: Config): Admission {
  try {
    return review(request, config)
  } catch (err) {
    // Not expected: every shape is checked below. The request is let through as it is.
    return answer(request, 'error', NO_PATCH, [`egress-mtls: internal error, object left unchanged: ${String(err)}`])
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
  if (!isRecord(object)) return unreadable(request, 'the object is not a JSON object')
  const metadata = object['metadata'] ?? {}
  if (!isRecord(metadata)) return unreadable(request, 'metadata is not an object')
  if (controlledByDeployment(request.kind.kind, metadata['ownerReferences'])) return answer(request, 'skipped')
  const labels = stringMap(metadata['labels'])
  if (labels === false) return unreadable(request, 'metadata.labels is not a map of strings')
  const annotations = stringMap(metadata['annotations'])
  if (annotations === false) return unreadable(request, 'metadata.annotations is not a map of strings')
  const namespace = nonEmpty(request.namespace) ?? nonEmpty(metadata['namespace']) ?? 'default'
  const decision = decide(config, namespace, labels ?? {}, annotations ?? {})
  const { targets } = decision
  let { warnings } = decision
  if (decision.denied !== undefined) {
    return frozen ? answer(request, 'skipped', NO_PATCH, [...warnings, frozenWarning(request.kind.kind, `injecting it would be refused: ${decision.denied}`)]) : deny(request, decision.denied, warnings)
  }

  const template = podTemplateAt(object, templatePath)
  if (!isRecord(template)) {
    return targets.length === 0
      ? answer(request, 'skipped', NO_PATCH, warnings)
      : unreadable(request, `${templatePath.join('.')} is not an object`, warnings)
  }
  const meta = templateMetadata(template['metadata'], templatePath.join('.'))
  if (typeof meta === 'string') return unreadable(request, meta, warnings)

  const misplaced = misplacedOptIn(config, request.kind.kind, labels ?? {}, meta.labels ?? {})
  if (misplaced !== undefined) warnings = [...warnings, misplaced]
  const mutation = mutations(config, mutationKey(templatePath, meta, targets), () => encode(mutatePodTemplate(templatePath, meta, targets, config)))
  if (frozen) {
    if ('denied' in mutation) return answer(request, 'skipped', NO_PATCH, [...warnings, frozenWarning(request.kind.kind, `injecting it would be refused: ${mutation.denied}`)])
    if (mutation.patch.length === 0) return answer(request, targets.length > 0 ? 'unchanged' : 'skipped', NO_PATCH, warnings)
    const had = (meta.annotations?.[INJECTED_ANNOTATION] ?? '').slice(0, 200)
    const now = targets.map((t) => t.name).join(',')
    const how = had === now ? `targets ${now}, with other volumes or mounts than now` : `injected: ${had === '' ? 'none' : had}; now: ${now === '' ? 'none' : now}`
    return answer(request, 'skipped', NO_PATCH, [...warnings, frozenWarning(request.kind.kind, `it differs from what egress-mtls would inject now (${how})`)])
  }
  if ('denied' in mutation) return deny(request, mutation.denied, warnings)
  const result = mutation.patch.length > 0 ? 'injected' : targets.length > 0 ? 'unchanged' : 'skipped'
  return answer(request, result, mutation, warnings)
}

/** Why an UPDATE of a Job leaves its pod template as it is although it is not what it should be. */
function frozenWarning (kind: string, why: string): string {
  return `egress-mtls: the pod template of this ${kind} is left as it is: ${why}; it cannot change after creation, recreate the ${kind} to inject it anew`
}

function deny (request: AdmissionRequest, message: string, warnings: readonly string[]): Admission {
  return {
    response: {
      uid: request.uid,
      allowed: false,
      status: { code: 400, message, reason: 'BadRequest' },
      ...(warnings.length === 0 ? {} : { warnings }),
    },
    result: 'denied',
    patch: [],
  }
}

function encode (mutation: Mutation): Encoded {
  if ('denied' in mutation) return mutation
  const { patch } = mutation
  return { patch, base64: patch.length === 0 ? '' : Buffer.from(JSON.stringify(patch)).toString('base64') }
}

function templateMetadata (value: unknown, where: string): TemplateMetadata | string {
  if (value === undefined || value === null) return { exists: false }
  if (!isRecord(value)) return `${where}.metadata is not an object`
  const labels = stringMap(value['labels'])
  if (labels === false) return `${where}.metadata.labels is not a map of strings`
  const annotations = stringMap(value['annotations'])
  if (annotations === false) return `${where}.metadata.annotations is not a map of strings`
  return { exists: true, labels, annotations }
}

function unreadable (request: AdmissionRequest, why: string, warnings: readonly string[] = []): Admission {
  return answer(request, 'error', NO_PATCH, [...warnings, `egress-mtls: ${why}: object left unchanged`])
}

const NO_PATCH: EncodedPatch = Object.freeze({ patch: Object.freeze([]), base64: '' })

function answer (request: AdmissionRequest, result: Result, { patch, base64 } = NO_PATCH, warnings: readonly string[] = []): Admission {
  const response: AdmissionResponse = {
    uid: request.uid,
    allowed: true,
    ...(patch.length === 0 ? {} : { patchType: 'JSONPatch', patch: base64 }),
    ...(warnings.length === 0 ? {} : { warnings }),
  }
  return { response, result, patch }
}

function nonEmpty (v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}
