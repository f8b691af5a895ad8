import assert from 'node:assert/strict'
import { test } from 'node:test'

import { MAX_ANNOTATION_BYTES, memberParts, nestsDeeper, overAnnotationLimit, stringEnd, topLevelItems } from '../../src/core/text/json-text.ts'

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
  assert.deepEqual(memberParts('"a" : [1, {"x": ","}]'), { key: '"a"', value: '[1, {"x": ","}]' })
  assert.deepEqual(memberParts('"b\\":": "]"'), { key: '"b\\":"', value: '"]"' })
  const empty = ' [ \n ] '
  const e = topLevelItems(empty)
  assert.deepEqual(e.items, [])
  assert.equal(empty.slice(e.inside.start, e.inside.end), ' \n ')
  const arr = '[1,-2.50e3,"x",null,[[]]]'
  assert.deepEqual(topLevelItems(arr).items.map((s) => arr.slice(s.start, s.end)), ['1', '-2.50e3', '"x"', 'null', '[[]]'])
})
