import assert from 'node:assert/strict'
import { test } from 'node:test'

import { escapePointer, jsonEqual, pointer, stringMap } from '../../src/core/json.ts'

test('JSON Pointer escaping: ~ as ~0, / as ~1, in that order', () => {
  assert.equal(escapePointer('sidecar.istio.io/userVolume'), 'sidecar.istio.io~1userVolume')
  assert.equal(escapePointer('a~/b'), 'a~0~1b')
  assert.equal(escapePointer('~1'), '~01')
  assert.equal(pointer(['spec', 'template', 'metadata', 'labels', 'egress-mtls.io/bank-api']), '/spec/template/metadata/labels/egress-mtls.io~1bank-api')
  assert.equal(pointer([]), '')
})

test('jsonEqual: key order does not matter, array order and types do', () => {
  assert.ok(jsonEqual({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 }))
  assert.ok(!jsonEqual([1, 2], [2, 1]))
  assert.ok(!jsonEqual({ a: 1 }, { a: 1, b: undefined }))
  assert.ok(!jsonEqual({ a: '1' }, { a: 1 }))
  assert.ok(!jsonEqual({}, []))
  assert.ok(!jsonEqual(null, {}))
})

test('stringMap: absent, a map of strings, or not one', () => {
  assert.equal(stringMap(undefined), undefined)
  assert.equal(stringMap(null), undefined)
  assert.deepEqual(stringMap({ a: 'b' }), { a: 'b' })
  assert.equal(stringMap({ a: 1 }), false)
  assert.equal(stringMap(['a']), false)
  assert.equal(stringMap('a=b'), false)
})
