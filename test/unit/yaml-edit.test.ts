// Editing a document's text (src/io/yaml-edit.ts): each case must read back as the patched
// value; the text around the edit keeps its bytes where a splice is possible, and the cases
// a splice does not handle fall back to the Document API without losing anything.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { applyPatch } from '../../src/core/admission/apply-patch.ts'
import type { PatchOperation } from '../../src/core/admission/mutate.ts'
import { parseManifest, YAML_CONTEXT } from '../../src/io/manifests.ts'
import { editDocument, type EditOperation } from '../../src/io/yaml-edit.ts'

function edit (text: string, ops: EditOperation[]): string {
  const m = parseManifest({ source: 't', text })
  const [d] = [...m.documents()]
  assert.ok(d?.doc !== undefined)
  const pointer = (p: readonly string[]): string => `/${p.map((s) => s.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`
  const expected = applyPatch(d.value, ops.map((o): PatchOperation => ({ ...o, path: pointer(o.path) })))
  const out = editDocument(text.slice(d.start, d.end), d.doc, d.start, ops, expected, m.json, YAML_CONTEXT)
  assert.deepEqual([...parseManifest({ source: 'out', text: out }).documents()].map((x) => x.value), [expected])
  return out
}

const L = ['m', 'labels']

test('block mapping: a key added after the last, at its column; comments and trailing text kept', () => {
  assert.equal(edit('m:\n  labels:\n    a: x # c\n  z: 1\n', [{ op: 'add', path: [...L, 'b'], value: 'true' }]),
    'm:\n  labels:\n    a: x # c\n    b: "true"\n  z: 1\n')
  assert.equal(edit('m:\n  labels:\n    a: x', [{ op: 'add', path: [...L, 'b'], value: 'v' }]), 'm:\n  labels:\n    a: x\n    b: v\n')
})

test('flow mapping: a key added inside the braces, with a trailing comma too; replaced and removed ones', () => {
  assert.equal(edit('m: { labels: { a: x } }\n', [{ op: 'add', path: [...L, 'b'], value: 'true' }]), 'm: { labels: { a: x, b: "true" } }\n')
  assert.equal(edit('m: { labels: { a: x, } }\n', [{ op: 'add', path: [...L, 'b'], value: 'v' }]), 'm: { labels: { a: x, b: v, } }\n')
  assert.equal(edit('m: { labels: {} }\n', [{ op: 'add', path: [...L, 'b'], value: 'v' }]), 'm: { labels: { b: v } }\n')
  assert.equal(edit('m: { labels: { a: x, b: y, c: z } }\n', [{ op: 'remove', path: [...L, 'b'] }]), 'm: { labels: { a: x, c: z } }\n')
  assert.equal(edit('m: { labels: { a: x, b: y } }\n', [{ op: 'remove', path: [...L, 'a'] }]), 'm: { labels: { b: y } }\n')
  assert.equal(edit("m: { labels: { a: 'x' } }\n", [{ op: 'replace', path: [...L, 'a'], value: 'it\'s' }]), "m: { labels: { a: 'it''s' } }\n")
})

test('a removal that would leave a block mapping empty, or an edit under an alias: the Document API, nothing lost', () => {
  const out = edit('# keep\nm:\n  labels:\n    a: x\n  other: 1 # too\n', [{ op: 'remove', path: [...L, 'a'] }])
  assert.match(out, /# keep/)
  assert.match(out, /other: 1 # too/)
  edit('base: &b { a: x }\nm:\n  labels: *b\n', [{ op: 'add', path: [...L, 'c'], value: 'y' }])
})

test('JSON stays JSON: compact on one line, pretty one key a line; int64 kept', () => {
  assert.equal(edit('{"m":{"labels":{"a":"x"}},"n":9007199254740993}', [{ op: 'add', path: [...L, 'b'], value: 'y' }]),
    '{"m":{"labels":{"a":"x", "b": "y"}},"n":9007199254740993}')
  assert.equal(edit('{\n  "m": {\n    "labels": {\n      "a": "x"\n    }\n  }\n}\n', [{ op: 'add', path: ['m', 'annotations'], value: { k: 'v' } }]),
    '{\n  "m": {\n    "labels": {\n      "a": "x"\n    },\n    "annotations": {\n      "k": "v"\n    }\n  }\n}\n')
})
