import assert from 'node:assert/strict'
import { test } from 'node:test'

import fc from 'fast-check'

import { type AdmissionResponse, RESPONSE_FIELDS, reviewJson, reviewResponse } from '../../src/core/admission/admission-review.ts'

const responseArb: fc.Arbitrary<AdmissionResponse> = fc.record({
  uid: fc.string(),
  allowed: fc.boolean(),
  patch: fc.option(fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((b) => Buffer.from(b).toString('base64')), { nil: undefined }),
  warnings: fc.option(fc.array(fc.string({ unit: 'grapheme' })), { nil: undefined }),
  status: fc.option(fc.record({ code: fc.integer(), message: fc.string(), reason: fc.string() }, { noNullPrototype: true }), { nil: undefined }),
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
