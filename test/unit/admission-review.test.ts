import assert from 'node:assert/strict'
import { test } from 'node:test'

import fc from 'fast-check'

import { type AdmissionResponse, parseReview, RESPONSE_FIELDS, reviewJson, reviewResponse } from '../../src/core/admission/admission-review.ts'

const responseArb: fc.Arbitrary<AdmissionResponse> = fc.record({
  uid: fc.string(),
  allowed: fc.boolean(),
  patch: fc.option(fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((b) => Buffer.from(b).toString('base64')), { nil: undefined }),
  warnings: fc.option(fc.array(fc.string({ unit: 'grapheme' })), { nil: undefined }),
  status: fc.option(
    fc.record({ code: fc.integer(), message: fc.string(), reason: fc.string() }, { noNullPrototype: true }),
    { nil: undefined },
  ),
}).map(({ patch, warnings, status, ...r }) => ({
  ...r,
  ...(patch === undefined ? {} : { patchType: 'JSONPatch' as const, patch }),
  ...(warnings === undefined ? {} : { warnings }),
  ...(status === undefined ? {} : { status }),
}))

test('reviewJson is the JSON of reviewResponse, the base64 patch spliced in as it is', () => {
  fc.assert(fc.property(fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'), responseArb, (apiVersion, response) => {
    assert.deepEqual(JSON.parse(reviewJson(apiVersion, response)), reviewResponse(apiVersion, response))
  }), { numRuns: 500 })
})

test('reviewJson writes every field of AdmissionResponse', () => {
  const full: Required<AdmissionResponse> = { uid: 'u"1', allowed: false, patchType: 'JSONPatch', patch: 'W10=', warnings: ['w\n'], status: { code: 403, message: 'm', reason: 'r' } }
  assert.deepEqual(Object.keys(full).sort(), Object.keys(RESPONSE_FIELDS).sort())
  assert.deepEqual(JSON.parse(reviewJson('admission.k8s.io/v1', full)), reviewResponse('admission.k8s.io/v1', full))
})

test('a uid that cannot be a UID is refused, saying what is accepted; a UUID and short tokens pass', () => {
  const review = (uid: unknown): unknown => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid, kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, operation: 'CREATE' } })
  for (const uid of ['705ab4f5-6393-11e8-b7cc-42010a800002', 'u', 'x'.repeat(128), 'a:b.c_d-e']) assert.ok(parseReview(review(uid)).ok, uid)
  for (const uid of ['x'.repeat(129), 'x'.repeat(3_000_000), 'a b', 'é', 'a\nb', '\u2028']) {
    const parsed = parseReview(review(uid))
    assert.ok(!parsed.ok, uid.slice(0, 20))
    assert.equal(parsed.error, 'request.uid is not a UID: 1 to 128 printable ASCII characters without spaces (kube-apiserver sends a UUID)')
  }
})
