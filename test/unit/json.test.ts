import assert from 'node:assert/strict'
import { test } from 'node:test'

import { escapePointer, isStringMap, jsonEqual, pointer, pointerTokens, unescapePointer } from '../../src/core/base/json.ts'

test('JSON Pointer escaping: ~ as ~0, / as ~1, in that order', () => {
  assert.equal(escapePointer('sidecar.istio.io/userVolume'), 'sidecar.istio.io~1userVolume')
  assert.equal(escapePointer('a~/b'), 'a~0~1b')
  assert.equal(escapePointer('~1'), '~01')
  assert.equal(pointer(['spec', 'template', 'metadata', 'labels', 'egress-mtls.io/bank-api']), '/spec/template/metadata/labels/egress-mtls.io~1bank-api')
  assert.equal(pointer([]), '')
})

test('JSON Pointer unescaping: ~1 as /, then ~0 as ~; the tokens of a pointer', () => {
  assert.equal(unescapePointer('a~0~1b'), 'a~/b')
  assert.equal(unescapePointer('~01'), '~1')
  assert.deepEqual(pointerTokens('/spec/template/metadata/labels/egress-mtls.io~1bank-api'), ['spec', 'template', 'metadata', 'labels', 'egress-mtls.io/bank-api'])
  assert.deepEqual(pointerTokens(''), [])
  assert.deepEqual(pointerTokens('/'), [''])
  for (const tokens of [['a~/b', '~1', ''], ['x/y~0']]) assert.deepEqual(pointerTokens(pointer(tokens)), tokens)
})

test('jsonEqual: key order does not matter, array order and types do', () => {
  assert.ok(jsonEqual({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 }))
  assert.ok(!jsonEqual([1, 2], [2, 1]))
  assert.ok(!jsonEqual({ a: 1 }, { a: 1, b: undefined }))
  assert.ok(!jsonEqual({ a: '1' }, { a: 1 }))
  assert.ok(!jsonEqual({}, []))
  assert.ok(!jsonEqual(null, {}))
})

test('isStringMap: a map of strings, or not one', () => {
  assert.equal(isStringMap({}), true)
  assert.equal(isStringMap({ a: 'b' }), true)
  assert.equal(isStringMap(undefined), false)
  assert.equal(isStringMap(null), false)
  assert.equal(isStringMap({ a: 1 }), false)
  assert.equal(isStringMap(['a']), false)
  assert.equal(isStringMap('a=b'), false)
})
