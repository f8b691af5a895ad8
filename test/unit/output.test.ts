// The shared printers: formatObjects (src/cli/output.ts) on writeDocument (src/core/text/document.ts).
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { formatObjects } from '../../src/cli/output.ts'
import { stringifyJson } from '../../src/core/base/json.ts'
import { writeDocument } from '../../src/core/text/document.ts'

test('yaml: documents separated by ---, YAML 1.1 strings quoted, long strings on one line', () => {
  assert.equal(formatObjects([{ a: 'yes', b: 'x'.repeat(100) }, { c: 1 }], 'yaml'), `a: "yes"\nb: ${'x'.repeat(100)}\n---\nc: 1\n`)
})

test('json: one object as it is, several as a v1 List, two-space indent, newline at the end', () => {
  assert.equal(formatObjects([{ a: 1 }], 'json'), '{\n  "a": 1\n}\n')
  const list = JSON.parse(formatObjects([{ a: 1 }, { b: 2 }], 'json')) as unknown
  assert.deepEqual(list, { apiVersion: 'v1', kind: 'List', items: [{ a: 1 }, { b: 2 }], metadata: { resourceVersion: '' } })
})

test('nothing to print prints nothing', () => {
  assert.equal(formatObjects([], 'json'), '')
  assert.equal(formatObjects([], 'yaml'), '')
})

test('int64 values read as BigInt are written exactly', () => {
  assert.equal(stringifyJson({ n: 9007199254740993n, m: [1n] }), '{"n":9007199254740993,"m":[1]}')
  assert.equal(formatObjects([{ big: 9007199254740993n }], 'yaml'), 'big: 9007199254740993\n')
})

test('one document writer for every command: YAML 1.1 as kubectl reads it, or indented JSON', () => {
  assert.equal(writeDocument('yaml', { message: 'on', version: '1.0', findings: [{ level: 'ok' }] }), 'message: "on"\nversion: "1.0"\nfindings:\n  - level: ok\n')
  assert.equal(writeDocument('json', { a: [1n] }), '{\n  "a": [\n    1\n  ]\n}\n')
})
