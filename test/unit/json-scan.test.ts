// jsonValueEnd() against JSON.parse: the same verdict on every text, and the end of the value
// where one is followed by more.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import fc from 'fast-check'

import { jsonValueEnd } from '../../src/core/base/json-scan.ts'

/** JSON.parse's verdict on the text. */
function isJson (text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** jsonValueEnd's verdict: a value from the start, then at most whitespace. */
function scansAsJson (text: string): boolean {
  const bytes = Buffer.from(text)
  const end = jsonValueEnd(bytes, 0)
  return end !== -1 && /^[ \t\n\r]*$/.test(bytes.toString('utf8', end))
}

const VALID = [
  '0', '-0', '12', '-3.25', '1e5', '1E+5', '2.5e-3', 'true', 'false', 'null', '""', '"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"', '"\\u00e9\\uD83D\\ude00"',
  '"é ☃ 😀"', '[]', '{}', ' [ 1 , "x" , { } , [ ] ] ', '{"a":{"b":[true,false,null]},"c":-1.5e10}', '\t\n\r {"k" : "v"}\r\n', '[[[[[[[[]]]]]]]]',
].filter(isJson)

const INVALID = [
  '', ' ', '01', '-', '1.', '.5', '1e', '1e+', '+1', '0x10', 'NaN', 'Infinity', 'tru', 'nul', 'True', '"abc', '"\\x41"', '"\\u12"', '"\\u12G4"',
  '"a\u0001b"', '"tab\there"', '"line\nbreak"', '[', '[1,]', '[,1]', '[1 2]', '{', '{"a"}', '{"a":}', '{"a":1,}', '{a:1}', '{"a" 1}', '{"a":1 "b":2}',
  '[1]]', '{"a":1}}', '[}', '{]', '"a"b', "'a'", '[1,2', '\u00a0[]', '\ufeff[]', '{"a":1,,"b":2}',
]

test('valid JSON: the value ends where the text does', () => {
  for (const text of VALID) assert.equal(jsonValueEnd(Buffer.from(text), 0), Buffer.byteLength(text.trimEnd()), text)
})

test('not JSON: -1, or a value that ends before the rest', () => {
  for (const text of INVALID) {
    assert.equal(isJson(text), false, `JSON.parse accepts ${text}`)
    assert.equal(scansAsJson(text), false, text)
  }
})

test('the end of a value followed by more, from an offset', () => {
  const text = 'xx: {"a":[1,{"b":"}"}]} ,"next":1}'
  assert.equal(jsonValueEnd(Buffer.from(text), 3), text.indexOf(' ,"next"'))
  assert.equal(jsonValueEnd(Buffer.from('[1]2'), 0), 3)
  assert.equal(jsonValueEnd(Buffer.from('123abc'), 0), 3)
})

test('deep nesting costs no stack', () => {
  const depth = 1_000_000
  assert.equal(jsonValueEnd(Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`), 0), 2 * depth)
  assert.equal(jsonValueEnd(Buffer.from(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`), 0), 6 * depth + 1)
  assert.equal(jsonValueEnd(Buffer.from('['.repeat(depth)), 0), -1)
})

test('the same verdict as JSON.parse on JSON values and on texts near them', () => {
  const nearJson = fc.json().chain((json) => fc.tuple(fc.constant(json), fc.nat({ max: json.length }), fc.constantFrom('', ',', '}', ']', '"', '\\', ':', '0', '-', '.', 'e', ' ', '\u0001', 'é', '{', '[')))
    .map(([json, at, insert]) => `${json.slice(0, at)}${insert}${json.slice(at + (insert === '' ? 1 : 0))}`)
  fc.assert(fc.property(fc.oneof(fc.json(), fc.jsonValue().map((v) => JSON.stringify(v, null, 1)), nearJson, fc.string({ unit: 'binary' })), (text) => {
    assert.equal(scansAsJson(text), isJson(text), text)
  }), { numRuns: 5000 })
})

// Strings are read four bytes at a time: every byte, and every pair of bytes (an escape, a
// quote after a control character), at every place in the four, and the ends of the bytes.
test('every byte and pair of bytes in a string, at each place in a 4-byte word: JSON.parse\'s verdict on the decoded text', () => {
  const verdict = (bytes: Buffer): boolean => {
    const end = jsonValueEnd(bytes, 0)
    return end !== -1 && /^[ \t\n\r]*$/.test(bytes.toString('utf8', end))
  }
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) {
      for (let at = 1; at <= 5; at++) {
        const bytes = Buffer.from('"abcdefghijk"')
        bytes[at] = a
        bytes[at + 1] = b
        if (verdict(bytes) !== isJson(bytes.toString('utf8'))) assert.fail(`bytes ${a} ${b} at ${at}: ${JSON.stringify(bytes.toString('latin1'))}`)
      }
    }
  }
})

test('a view of a larger buffer: nothing after its end is read', () => {
  const whole = Buffer.from('xxx"abcdefghijklmnop"')
  for (let from = 0; from <= 3; from++) {
    const text = whole.subarray(from)
    const at = 3 - from
    assert.equal(jsonValueEnd(text, at), text.length, `from ${from}`)
    // Cut before the closing quote, at each place in the last four bytes: the string does not end.
    for (let cut = 1; cut <= 5; cut++) assert.equal(jsonValueEnd(text.subarray(0, text.length - cut), at), -1, `from ${from}, cut ${cut}`)
  }
})
