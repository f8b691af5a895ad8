// Golden AdmissionReviews: test/fixtures/golden/<case>.request.json is a review as
// kube-apiserver sends it (UPDATE with oldObject and managedFields), <case>.expected.json
// the answer expected of admit(), its JSON Patch decoded. GOLDEN_UPDATE=1 rewrites the
// expected files from what admit() answers now: read the diff before committing it.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { test } from 'node:test'

import jsonpatch, { type Operation } from 'fast-json-patch'

import { parseReview } from '../../src/core/admission-review.ts'
import { admit } from '../../src/core/admit.ts'
import { parseConfig } from '../../src/core/config.ts'

const dir = new URL('../fixtures/golden/', import.meta.url)
const config = parseConfig(readFileSync(new URL('config.yaml', dir), 'utf8'), 'config.yaml')
const cases = readdirSync(dir).filter((f) => f.endsWith('.request.json')).map((f) => f.slice(0, -'.request.json'.length)).sort()

test('there is a golden case for every kind and both annotation forms', () => {
  const requests = cases.map((c) => readFileSync(new URL(`${c}.request.json`, dir), 'utf8'))
  for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']) {
    assert.ok(requests.some((r) => r.includes(`"kind": "${kind}"`)), kind)
  }
  assert.ok(requests.some((r) => r.includes('"sidecar.istio.io/userVolume": "[{')), 'array form')
  assert.ok(requests.some((r) => r.includes('"sidecar.istio.io/userVolume": "{')), 'map form')
  assert.ok(requests.every((r) => r.includes('"managedFields"')), 'managedFields')
})

for (const name of cases) {
  test(name, () => {
    const parsed = parseReview(JSON.parse(readFileSync(new URL(`${name}.request.json`, dir), 'utf8')))
    assert.ok(parsed.ok)
    const { request } = parsed.value
    const admission = admit(request, config)
    const { uid, patch, patchType, ...response } = admission.response
    const actual = { result: admission.result, response, patch: admission.patch }
    const expectedFile = new URL(`${name}.expected.json`, dir)
    if (process.env['GOLDEN_UPDATE'] === '1') writeFileSync(expectedFile, `${JSON.stringify(actual, null, 2)}\n`)
    assert.deepEqual(actual, JSON.parse(readFileSync(expectedFile, 'utf8')))

    assert.equal(uid, request.uid)
    if (admission.patch.length === 0) {
      assert.equal(patch, undefined)
      assert.equal(patchType, undefined)
      return
    }
    assert.equal(patchType, 'JSONPatch')
    assert.deepEqual(JSON.parse(Buffer.from(patch ?? '', 'base64').toString('utf8')), admission.patch)
    // The patch applies to the object as sent, and the result needs no second patch.
    const mutated: unknown = jsonpatch.applyPatch(request.object, structuredClone(admission.patch) as Operation[], true, false).newDocument
    const again = admit({ ...request, object: mutated, oldObject: request.object }, config)
    assert.deepEqual(again.patch, [])
  })
}
