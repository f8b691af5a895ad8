import assert from 'node:assert/strict'
import { test } from 'node:test'

import fc from 'fast-check'

import { MAX_ANNOTATION_BYTES, nestsDeeper, objectMembers, overAnnotationLimit, stringEnd, topLevelItems } from '../../src/core/text/json-text.ts'

test('the 256 KiB limit counts UTF-8 bytes', () => {
  assert.equal(overAnnotationLimit('x'.repeat(MAX_ANNOTATION_BYTES)), false)
  assert.equal(overAnnotationLimit('x'.repeat(MAX_ANNOTATION_BYTES + 1)), true)
  assert.equal(overAnnotationLimit('é'.repeat(MAX_ANNOTATION_BYTES / 2)), false)
  assert.equal(overAnnotationLimit('é'.repeat(MAX_ANNOTATION_BYTES / 2) + 'x'), true)
  assert.equal(overAnnotationLimit('\u{1F600}'.repeat(MAX_ANNOTATION_BYTES / 4 + 1)), true)
})

test('nesting depth outside strings, escapes included, valid JSON or not', () => {
  assert.equal(nestsDeeper('[[[]]]', 3), false)
  assert.equal(nestsDeeper('[[[]]]', 2), true)
  assert.equal(nestsDeeper('{"a":[{"b":{}}]}', 4), false)
  assert.equal(nestsDeeper('{"a":[{"b":{}}]}', 3), true)
  assert.equal(nestsDeeper('["[[[[", "\\"[[[["]', 1), false)
  assert.equal(nestsDeeper('[[[[', 3), true) // unbalanced: still counted
  assert.equal(nestsDeeper('"\\', 0), false) // a string never closed
  assert.equal(stringEnd('"a\\"b" x', 0), 5)
})

test('top-level items: spans without the spacing around them, strings and nesting skipped', () => {
  const text = ' { "a" : [1, {"x": ","}] ,\n "b\\"}": "]" , "c":{} } '
  const { items } = topLevelItems(text)
  assert.deepEqual(items.map((s) => text.slice(s.start, s.end)), ['"a" : [1, {"x": ","}]', '"b\\"}": "]"', '"c":{}'])
  const members = objectMembers(text)
  assert.deepEqual([members?.keys, members?.values], [['a', 'b"}', 'c'], [[1, { x: ',' }], ']', {}]])
  const empty = ' [ \n ] '
  const e = topLevelItems(empty)
  assert.deepEqual(e.items, [])
  assert.equal(empty.slice(e.inside.start, e.inside.end), ' \n ')
  const arr = '[1,-2.50e3,"x",null,[[]]]'
  assert.deepEqual(topLevelItems(arr).items.map((s) => arr.slice(s.start, s.end)), ['1', '-2.50e3', '"x"', 'null', '[[]]'])
})

test('object members: read exactly when JSON.parse reads an object, each member on its own', () => {
  const members = (text: string): [string, unknown][] | undefined => {
    const m = objectMembers(text)
    return m === undefined ? undefined : m.keys.map((k, i) => [k, m.values[i]])
  }
  const isObject = (text: string): boolean => {
    try {
      const v: unknown = JSON.parse(text)
      return typeof v === 'object' && v !== null && !Array.isArray(v)
    } catch {
      return false
    }
  }
  for (const text of ['{}', ' { \n } ', '{"a":1,"a":2}', '{"a" :{"b":[1,"}"]} , "c\\"":null}', '{', '{"a":1,}', '{,}', '{"a" "b":1}', '{"a":1 2}', '{"a":1}x', 'x{"a":1}', '[{"a":1}]', '{a:1}', '{"a":1}}', '{"a"\u00a0:1}', '{"\\u0041":1}']) {
    assert.equal(members(text) !== undefined, isObject(text), text)
  }
  assert.deepEqual(members('{"a":1,"a":{"x":2}}'), [['a', 1], ['a', { x: 2 }]])
  // Any JSON text, and any JSON text cut or with a character changed.
  const texts = fc.oneof(
    fc.json(),
    fc.tuple(fc.json(), fc.nat(), fc.constantFrom('', ',', ':', '"', '}', '{', ' ', 'x')).map(([t, i, c]) => t.slice(0, i % (t.length + 1)) + c + t.slice(i % (t.length + 1) + 1)),
  )
  fc.assert(fc.property(texts, (text) => {
    const m = members(text)
    assert.equal(m !== undefined, isObject(text), text)
    if (m !== undefined) assert.deepEqual(Object.fromEntries(m), JSON.parse(text))
  }), { numRuns: 2000 })
})
