// Golden AdmissionReviews, for what a manifest cannot say (the manifests' goldens:
// golden-manifests.test.ts): test/fixtures/golden/<case>.request.json is a review as
// kube-apiserver sends it (an UPDATE with oldObject and managedFields, a denial, a Job's
// UPDATE), <case>.expected.json the answer expected of admit(), its JSON Patch decoded. A case
// is its two files; a file of no case fails. GOLDEN_UPDATE=1 rewrites the expected files from
// what admit() answers now: read the diff before committing it.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { parseReview } from '../../src/core/admission/admission-review.ts'
import { admit } from '../../src/core/admission/admit.ts'
import { applyPatch } from '../../src/core/admission/apply-patch.ts'
import { parsedConfig } from '../support/config.ts'
import { expectGolden, goldenFolder } from '../support/golden.ts'

const dir = fileURLToPath(new URL('../fixtures/golden/', import.meta.url))
const config = parsedConfig(readFileSync(join(dir, 'config.yaml'), 'utf8'), 'config.yaml')
const { cases, stale } = goldenFolder(dir, '.request.json', ['.expected.json'], [], /^(config\.yaml|manifests|render)$/)

test('golden AdmissionReviews: no stale file; an UPDATE with oldObject, a denial, a Job\'s UPDATE; managedFields in each', () => {
  assert.deepEqual(stale, [])
  const requests = cases.map((c) => JSON.parse(readFileSync(join(dir, `${c}.request.json`), 'utf8')) as { request: Record<string, unknown> })
  assert.ok(requests.some((r) => r.request['operation'] === 'UPDATE' && r.request['oldObject'] !== undefined), 'UPDATE with oldObject')
  assert.ok(cases.some((c) => c.endsWith('-denied')), 'a denial')
  assert.ok(requests.some((r) => r.request['operation'] === 'UPDATE' && (r.request['kind'] as { kind: string }).kind === 'Job'), 'a Job\'s UPDATE')
  assert.ok(requests.every((r) => JSON.stringify(r).includes('"managedFields"')), 'managedFields')
})

for (const name of cases) {
  test(name, () => {
    const parsed = parseReview(JSON.parse(readFileSync(join(dir, `${name}.request.json`), 'utf8')))
    assert.ok(parsed.ok)
    const { request } = parsed.value
    const admission = admit(request, config)
    const { uid, patch, patchType, ...response } = admission.response
    const actual = { result: admission.result, response, patch: admission.patch }
    expectGolden(join(dir, `${name}.expected.json`), `${JSON.stringify(actual, null, 2)}\n`)

    assert.equal(uid, request.uid)
    if (admission.patch.length === 0) {
      assert.equal(patch, undefined)
      assert.equal(patchType, undefined)
      return
    }
    assert.equal(patchType, 'JSONPatch')
    assert.deepEqual(JSON.parse(Buffer.from(patch ?? '', 'base64').toString('utf8')), admission.patch)
    // The patch applies to the object as sent, and the result needs no second patch.
    const mutated = applyPatch(request.object, admission.patch)
    const again = admit({ ...request, object: mutated, oldObject: request.object }, config)
    assert.deepEqual(again.patch, [])
  })
}
