// The golden manifests (test/fixtures/golden/manifests, golden-manifests.test.ts) through the
// real HTTPS server on port 0: each object POSTed as the AdmissionReview CREATE the API server
// would send, the patch of the answer applied, gives the expected manifest's objects and
// warnings; the expected manifest posted again gets no patch.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import type { AdmissionResponse } from '../../src/core/admission/admission-review.ts'
import { type Answer, goldenFolder, goldenWarnings, manifestObjects, throughWebhook } from '../support/golden.ts'
import { post, startTestWebhook, type TestWebhook } from '../support/webhook.ts'

const dir = fileURLToPath(new URL('../fixtures/golden/manifests/', import.meta.url))
const { cases } = goldenFolder(dir, '.yaml', ['.injected.yaml'], ['.warnings'])

let t: TestWebhook
before(async () => { t = await startTestWebhook({ config: readFileSync(new URL('../fixtures/golden/config.yaml', import.meta.url), 'utf8') }) })
after(async () => { await t.webhook.close() })

const answer: Answer = async (review) => {
  const res = await post(t.webhook.port, review, { ca: t.ca.cert })
  assert.equal(res.status, 200, res.body)
  return (JSON.parse(res.body) as { response: AdmissionResponse }).response
}

test('every golden manifest over HTTPS: the expected objects and warnings, then no patch', async () => {
  assert.ok(cases.length > 0)
  for (const name of cases) {
    const expected = readFileSync(join(dir, `${name}.injected.yaml`), 'utf8')
    const w = await throughWebhook(readFileSync(join(dir, `${name}.yaml`), 'utf8'), answer)
    assert.deepEqual(w.objects, manifestObjects(expected), name)
    assert.deepEqual(w.warnings, goldenWarnings(join(dir, `${name}.warnings`)), name)
    assert.ok((await throughWebhook(expected, answer)).unchanged, `${name}: patched again`)
  }
})
