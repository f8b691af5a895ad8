// AdmissionReview v1 (admission.k8s.io/v1): the shapes the webhook reads and writes, and
// the check that a body is one. Pure.
import { isRecord } from '../base/json.ts'
import { fail, ok, type Result } from '../base/result.ts'

export interface GroupVersionKind {
  readonly group: string
  readonly version: string
  readonly kind: string
}

/** The fields of AdmissionReview.request that egress-mtls reads. */
export interface AdmissionRequest {
  readonly uid: string
  readonly kind: GroupVersionKind
  readonly namespace?: string
  readonly name?: string
  /** CREATE, UPDATE, DELETE or CONNECT */
  readonly operation: string
  /** From the webhook's body, its metadata.managedFields (never read) is UNPARSED too in an UPDATE (review-body.ts). */
  readonly object?: unknown
  /** Never read. From the webhook's body: UNPARSED (review-body.ts), checked as JSON and not parsed. */
  readonly oldObject?: unknown
  readonly dryRun?: boolean
}

export interface AdmissionStatus {
  readonly code: number
  readonly message: string
  readonly reason?: string
}

export interface AdmissionResponse {
  readonly uid: string
  readonly allowed: boolean
  readonly patchType?: 'JSONPatch'
  /** base64 of the JSON Patch */
  readonly patch?: string
  readonly warnings?: readonly string[]
  readonly status?: AdmissionStatus
}

export interface AdmissionReview {
  readonly apiVersion: string
  readonly kind: 'AdmissionReview'
  readonly request?: AdmissionRequest
  readonly response?: AdmissionResponse
}

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1'

/** A review with a request we can answer: the body itself, checked. */
export interface ParsedReview { readonly apiVersion: string, readonly request: AdmissionRequest }

/**
 * What a request's uid may be. kube-apiserver sends a UUID (36 characters); anything of up
 * to 128 printable ASCII characters without spaces is accepted, so that a uid is echoed as
 * it came and can be logged whole, never megabytes of it.
 */
const UID = /^[\x21-\x7e]{1,128}$/
const UID_RULE = '1 to 128 printable ASCII characters without spaces (kube-apiserver sends a UUID)'

/**
 * Checks that a parsed JSON body is an AdmissionReview with a request we can answer.
 * Only the envelope is checked here; the object itself is judged by the injection policy.
 */
export function parseReview (body: unknown): Result<ParsedReview> {
  if (!isRecord(body)) return fail('body is not a JSON object')
  if (body['kind'] !== 'AdmissionReview') return fail('kind is not AdmissionReview')
  const apiVersion = body['apiVersion']
  if (apiVersion !== ADMISSION_API_VERSION && apiVersion !== 'admission.k8s.io/v1beta1') {
    return fail(`apiVersion ${JSON.stringify(apiVersion)} is not ${ADMISSION_API_VERSION}`)
  }
  const request = body['request']
  if (!isRecord(request)) return fail('request is missing')
  const uid = request['uid']
  if (typeof uid !== 'string' || uid === '') return fail('request.uid is missing')
  if (!UID.test(uid)) return fail(`request.uid is not a UID: ${UID_RULE}`)
  const kind = request['kind']
  if (!isRecord(kind) || typeof kind['kind'] !== 'string' || typeof kind['group'] !== 'string' || typeof kind['version'] !== 'string') {
    return fail('request.kind is not a group/version/kind')
  }
  if (typeof request['operation'] !== 'string') return fail('request.operation is missing')
  if (request['namespace'] !== undefined && typeof request['namespace'] !== 'string') return fail('request.namespace is not a string')
  return ok(body as unknown as ParsedReview)
}

/** The AdmissionReview answering a request, in the apiVersion it came with. */
export function reviewResponse (apiVersion: string, response: AdmissionResponse): AdmissionReview {
  return { apiVersion, kind: 'AdmissionReview', response }
}

/**
 * Every field of AdmissionResponse (a field added to the type without being added here is a type
 * error): reviewJson() writes each of them, which test/unit/admission-review.test.ts checks.
 */
export const RESPONSE_FIELDS: Readonly<Record<keyof AdmissionResponse, true>> = {
  uid: true, allowed: true, patchType: true, patch: true, warnings: true, status: true,
}

/**
 * reviewResponse() as JSON text, written out field by field (each field of RESPONSE_FIELDS):
 * the patch, base64 and often kilobytes long, needs no JSON escaping and is spliced in as it is
 * rather than scanned by JSON.stringify; the rest is a few short values.
 */
export function reviewJson (apiVersion: string, response: AdmissionResponse): string {
  const { uid, allowed, patchType, patch, warnings, status } = response
  return `{"apiVersion":${JSON.stringify(apiVersion)},"kind":"AdmissionReview",` +
    `"response":{"uid":${JSON.stringify(uid)},"allowed":${String(allowed)}` +
    (patchType === undefined ? '' : `,"patchType":${JSON.stringify(patchType)}`) +
    (patch === undefined ? '' : `,"patch":"${patch}"`) +
    (warnings === undefined ? '' : `,"warnings":${JSON.stringify(warnings)}`) +
    (status === undefined ? '' : `,"status":${JSON.stringify(status)}`) +
    '}}'
}
