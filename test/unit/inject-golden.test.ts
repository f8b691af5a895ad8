// `inject` edits, it does not rewrite: real-world manifests (test/fixtures/real-world, with
// their licences) and hand-written ones (test/fixtures/inject) through the CLI in-process.
// A document with nothing to inject comes out byte for byte; an injected one differs from
// its input only by added lines, or by changed or removed lines that are ours; the result
// is the golden file <name>.injected.<ext> beside the input, and injecting it again
// changes nothing. A golden file without its input, or an input without its golden file,
// fails. The webhook (admit() answering each object's CREATE) gives the same objects.
// GOLDEN_UPDATE=1 rewrites the golden files: read the diff before committing it.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { parseAllDocuments } from 'yaml'

import { parseReview } from '../../src/core/admission/admission-review.ts'
import { admit } from '../../src/core/admission/admit.ts'
import { parsedConfig } from '../support/config.ts'
import { type Answer, expectGolden, goldenFolder, inject, manifestObjects, throughWebhook } from '../support/golden.ts'

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'egress-mtls-golden-'))
const write = (name: string, text: string): string => { writeFileSync(join(dir, name), text); return join(dir, name) }

// cluster mode: every workload is injected, as label mode would inject an opted-in one
const INJECT_ALL = write('all.yaml', 'injection: cluster\ntargets:\n  - name: bank-api\n    host: api.bank.example.com\n    namespaces: ["*"]\n')
// label mode: none of these manifests is opted in
const INJECT_NONE = write('none.yaml', 'targets:\n  - name: bank-api\n    host: api.bank.example.com\n    namespaces: ["*"]\n')

/** The webhook's answer with INJECT_ALL, in-process, the review's JSON read as the server reads it. */
const injectAll = parsedConfig(readFileSync(INJECT_ALL, 'utf8'), INJECT_ALL)
const answer: Answer = (review) => {
  const parsed = parseReview(JSON.parse(review))
  assert.ok(parsed.ok)
  return Promise.resolve(admit(parsed.value.request, injectAll).response)
}

// each folder's YAML and JSON cases, and what is stale in it
const folders = [...['istio', 'microservices-demo', 'kubernetes-examples'].map((p) => join('real-world', p)), 'inject'].flatMap((folder) =>
  ['yaml', 'json'].map((ext) => {
    const other = ext === 'yaml' ? 'json' : 'yaml'
    return { folder, ext, ...goldenFolder(join(fixtures, folder), `.${ext}`, [`.injected.${ext}`], [], new RegExp(`^(LICENSE|README\\.md|.*\\.${other})$`)) }
  }))
const inputs = folders.flatMap((f) => f.cases.map((c) => join(f.folder, `${c}.${f.ext}`))).sort()

/** The lines of `after` that are not `before`'s, `before`'s lines being a subsequence of `after`'s. */
function addedLines (before: string, after: string): string[] | undefined {
  const a = after.split('\n')
  const added: string[] = []
  let i = 0
  for (const line of before.split('\n')) {
    while (i < a.length && a[i] !== line) added.push(a[i++] ?? '')
    if (i === a.length) return undefined
    i++
  }
  return [...added, ...a.slice(i)]
}

test('the fixtures are there: every project with its licence and a README saying where from; no stale golden file', () => {
  for (const p of ['istio', 'microservices-demo', 'kubernetes-examples']) {
    assert.match(readFileSync(join(fixtures, 'real-world', p, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/)
    assert.match(readFileSync(join(fixtures, 'real-world', p, 'README.md'), 'utf8'), /commit\s+[0-9a-f]{40}/)
  }
  assert.ok(inputs.length >= 8, inputs.join(' '))
  assert.deepEqual(folders.flatMap((f) => f.stale.map((m) => `${f.folder}/${m}`)), [])
})

for (const input of inputs) {
  const file = join(fixtures, input)
  const text = readFileSync(file, 'utf8')

  // uninject.yaml carries an injection the configuration no longer wants: never unchanged
  if (!input.includes('uninject')) test(`${input}: nothing to inject, byte for byte the same`, async () => {
    const r = await inject(['-f', file, '--config', INJECT_NONE])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, text)
  })

  test(`${input}: injected, only our lines differ; the golden file; idempotent`, async () => {
    const r = await inject(['-f', file, '--config', INJECT_ALL])
    assert.equal(r.code, 0, r.stderr)
    const golden = file.replace(/\.(yaml|json)$/, '.injected.$1')
    expectGolden(golden, r.stdout)
    assert.notEqual(r.stdout, text)

    if (input.includes('uninject')) {
      // our old target's entries are replaced: every changed line is one of ours
      const removed = addedLines(r.stdout, text) ?? text.split('\n').filter((l) => !r.stdout.includes(l))
      for (const line of removed) assert.match(line, /egress-mtls|sidecar\.istio\.io\/userVolume/, `a line not ours was removed: ${line}`)
      assert.match(r.stdout, /team: payments {22}# not ours: kept/)
    } else if (input.endsWith('.json')) {
      const added = addedLines(text.replace(/,?\n/g, '\n'), r.stdout.replace(/,?\n/g, '\n'))
      assert.ok(added !== undefined, 'an input line was lost')
    } else {
      // a key added to a one-line flow mapping changes that line; without it, the line is the input's
      const added = addedLines(text, r.stdout.replace(/, egress-mtls\.io\/[a-z0-9-]+: "true"(?=\})/g, ''))
      assert.ok(added !== undefined, 'an input line was lost')
      for (const line of added) assert.match(line, /^\s*(egress-mtls\.io\/|sidecar\.istio\.io\/userVolume|(metadata|labels|annotations):$)/, `not one of our lines: ${line}`)
    }
    // it reads back, and holds the objects the webhook makes of the input's (admit()'s patch applied)
    for (const d of parseAllDocuments(r.stdout)) assert.deepEqual(d.errors, [])
    assert.deepEqual((await throughWebhook(text, answer)).objects, manifestObjects(r.stdout))

    const again = await inject(['-f', golden, '--config', INJECT_ALL])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(again.stdout, r.stdout)
  })
}

test('fidelity: 0644, int64 beyond 2^53, 1.50, comments and block scalars kept in an injected document', async () => {
  const r = await inject(['-f', join(fixtures, 'inject', 'helm-rendered.yaml'), '--config', INJECT_ALL])
  for (const kept of [
    'defaultMode: 0644', 'progressDeadlineSeconds: 9007199254740993  # beyond 2^53: must stay as written',
    'args: ["--ratio", 1.50, --flag]', "checksum/config: 'e3b0c44298fc1c149afbf4c8996fb924'   # keep me",
    '# Source: shop/templates/deployment.yaml', '        description: |\n          multi-line\n          text\n',
  ]) assert.ok(r.stdout.includes(kept), kept)
  const json = await inject(['-f', join(fixtures, 'inject', 'deployment.json'), '--config', INJECT_ALL])
  assert.match(json.stdout, /"revisionHistoryLimit": 9007199254740993,/)
  const asJson = await inject(['-o', 'json', '-f', join(fixtures, 'inject', 'helm-rendered.yaml'), '--config', INJECT_ALL])
  assert.match(asJson.stdout, /"progressDeadlineSeconds": 9007199254740993,/)
  assert.match(asJson.stdout, /"defaultMode": 420/)
})
