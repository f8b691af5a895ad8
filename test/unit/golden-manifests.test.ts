// Golden manifests, as Istio's injector has them: test/fixtures/golden/manifests/<case>.yaml
// injected with test/fixtures/golden/config.yaml is <case>.injected.yaml, and its warnings, if
// any, are <case>.warnings (as `inject` prints them). Each case goes through `inject` (the
// CLI in-process) and through the webhook (admit() answering the AdmissionReview CREATE of
// each object, the answer's patch applied; over HTTPS in test/integration/webhook-golden.test.ts),
// and both must give the expected manifest; injecting that again changes nothing. A case is
// its files: adding one needs no code. GOLDEN_UPDATE=1 rewrites the expected files from what
// `inject` gives now: read the diff before committing it.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { parseReview } from '../../src/core/admission/admission-review.ts'
import { admit, type Outcome } from '../../src/core/admission/admit.ts'
import { parsedConfig } from '../support/config.ts'
import { type Answer, expectGolden, goldenFolder, goldenWarnings, inject, manifestObjects, throughWebhook } from '../support/golden.ts'

const dir = fileURLToPath(new URL('../fixtures/golden/manifests/', import.meta.url))
const configFile = fileURLToPath(new URL('../fixtures/golden/config.yaml', import.meta.url))
const config = parsedConfig(readFileSync(configFile, 'utf8'), 'config.yaml')
const { cases, stale } = goldenFolder(dir, '.yaml', ['.injected.yaml'], ['.warnings'])

/** The webhook's decision in-process, the review's JSON read as the server reads it; the results kept. */
const results: Outcome[] = []
const answer: Answer = (review) => {
  const parsed = parseReview(JSON.parse(review))
  assert.ok(parsed.ok)
  const admission = admit(parsed.value.request, config)
  results.push(admission.result)
  return Promise.resolve(admission.response)
}

test('golden manifests: no stale file, a case for every kind and both annotation forms', () => {
  assert.deepEqual(stale, [])
  const inputs = cases.map((c) => readFileSync(join(dir, `${c}.yaml`), 'utf8'))
  for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']) {
    assert.ok(inputs.some((r) => r.includes(`\nkind: ${kind}\n`)), kind)
  }
  assert.ok(inputs.some((r) => r.includes('sidecar.istio.io/userVolume: \'[{')), 'array form')
  assert.ok(inputs.some((r) => r.includes('sidecar.istio.io/userVolume: \'{')), 'map form')
})

for (const name of cases) {
  const input = join(dir, `${name}.yaml`)
  const expected = join(dir, `${name}.injected.yaml`)
  const warnings = join(dir, `${name}.warnings`)

  test(`${name}: inject gives ${name}.injected.yaml`, async () => {
    const r = await inject(['-f', input, '--config', configFile])
    assert.equal(r.code, 0, r.stderr)
    expectGolden(expected, r.stdout)
    expectGolden(warnings, r.stderr, true)
  })

  test(`${name}: the webhook gives the same objects and warnings`, async () => {
    const w = await throughWebhook(readFileSync(input, 'utf8'), answer)
    assert.deepEqual(w.objects, manifestObjects(readFileSync(expected, 'utf8')))
    assert.deepEqual(w.warnings, goldenWarnings(warnings))
  })

  test(`${name}: idempotent, the expected manifest injected again is unchanged`, async () => {
    const text = readFileSync(expected, 'utf8')
    const r = await inject(['-f', expected, '--config', configFile])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, text)
    results.length = 0
    const w = await throughWebhook(text, answer)
    assert.ok(w.unchanged, 'the webhook patches the expected manifest again')
    assert.ok(results.length > 0 && results.every((res) => res === 'unchanged' || res === 'skipped'), results.join(', '))
  })
}
