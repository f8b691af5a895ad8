// reviewBodyJson(): JSON.parse's verdict on every body, and its value but for request.oldObject,
// which is checked and left unparsed only where it is that.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import fc from 'fast-check'

import { reviewBodyJson, UNPARSED } from '../../src/core/admission/review-body.ts'
import { isRecord } from '../../src/core/base/json.ts'
import { type JsonObject, labelledUpdate, unlabelledCreate } from '../support/reviews.ts'

const bytes = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))

/** JSON.parse's value, with request.oldObject as reviewBodyJson leaves it. */
function expected (text: string): unknown {
  const body = JSON.parse(text) as { request: JsonObject }
  body.request['oldObject'] = UNPARSED
  return body
}

test('an UPDATE as kube-apiserver sends it: everything parsed but oldObject, checked and left unparsed', () => {
  const text = JSON.stringify(labelledUpdate())
  const value: unknown = expected(text)
  assert.deepEqual(reviewBodyJson(bytes(text)), { ok: true, value })
})

test('a CREATE (oldObject null) and a body without oldObject: parsed whole', () => {
  for (const review of [unlabelledCreate(), { ...unlabelledCreate(), request: { ...(unlabelledCreate()['request'] as JsonObject), oldObject: undefined } }]) {
    const text = JSON.stringify(review)
    const value: unknown = JSON.parse(text)
    assert.deepEqual(reviewBodyJson(bytes(text)), { ok: true, value })
  }
})

test('an oldObject that is not JSON: the body is not JSON', () => {
  const text = JSON.stringify(labelledUpdate())
  const at = text.lastIndexOf('"oldObject":{') + '"oldObject":{'.length
  for (const broken of ['"a":,', '"a":1,,', '"a":"\u0001",', '"a":01,', '"a":[1,],', '"a":"\\x",']) {
    const body = `${text.slice(0, at)}${broken}${text.slice(at)}`
    assert.throws(() => JSON.parse(body))
    assert.deepEqual(reviewBodyJson(bytes(body)), { ok: false, error: 'body is not valid JSON' }, broken)
  }
  assert.deepEqual(reviewBodyJson(bytes(text.slice(0, -3))), { ok: false, error: 'body is not valid JSON' })
})

test('a key oldObject elsewhere: what the webhook reads is parsed, nothing lost', () => {
  const review = labelledUpdate()
  const request = review['request'] as JsonObject
  const padding = 'x'.repeat(300)
  const { object, oldObject, ...envelope } = request
  // Another key order: object after oldObject, with a key oldObject of its own (four deep).
  const reordered = { ...review, request: { ...envelope, oldObject, object: { ...(object as JsonObject), oldObject: { padding } } } }
  const value: unknown = JSON.parse(JSON.stringify(reordered))
  assert.deepEqual(reviewBodyJson(bytes(reordered)), { ok: true, value })
  // A member after the request, with a key oldObject (two deep): that one is left unparsed.
  const after = { ...review, extra: { oldObject: { padding } } }
  const got = reviewBodyJson(bytes(after))
  assert.ok(got.ok)
  assert.deepEqual(got.value, { ...JSON.parse(JSON.stringify(review)) as JsonObject, extra: { oldObject: UNPARSED } })
})

test('bodies near a review: JSON.parse\'s verdict, and its value but for oldObject', () => {
  const text = JSON.stringify(labelledUpdate())
  const edits = fc.tuple(fc.nat({ max: text.length - 1 }), fc.constantFrom('', ',', '}', ']', '"', '\\', ':', '0', ' ', '{', '"oldObject":', '\u0001', 'é'))
  fc.assert(fc.property(edits, ([at, insert]) => {
    const body = `${text.slice(0, at)}${insert}${text.slice(at + (insert === '' ? 1 : 0))}`
    const got = reviewBodyJson(bytes(body))
    let value: unknown
    try {
      value = JSON.parse(body)
    } catch {
      assert.deepEqual(got, { ok: false, error: 'body is not valid JSON' })
      return
    }
    assert.ok(got.ok)
    // What the webhook reads: all but request.oldObject. Of other members' members, only
    // one named oldObject may differ (two deep, not under request: never read).
    const read = (v: unknown): unknown => isRecord(v)
      ? Object.fromEntries(Object.entries(v).map(([k, m]) => [k, isRecord(m) ? { ...m, oldObject: undefined } : m]))
      : v
    assert.deepEqual(read(got.value), read(value))
  }), { numRuns: 2000 })
})

test('the key found past many `j`s after it, in oldObject and after it, and at the very start and end', () => {
  const review = labelledUpdate()
  const request = review['request'] as JsonObject
  const oldObject = request['oldObject'] as JsonObject
  for (const js of [1, 15, 16, 17, 40]) {
    const many = { ...review, request: { ...request, oldObject: { ...oldObject, jjj: 'j'.repeat(js) } }, j: 'j'.repeat(js) }
    const text = JSON.stringify(many)
    assert.deepEqual(reviewBodyJson(bytes(text)), { ok: true, value: expected(text) }, `${js} j`)
  }
  const padding = 'p'.repeat(300)
  const top = `{"oldObject":{"a":"${padding}"},"j":1}`
  assert.deepEqual(reviewBodyJson(bytes(top)), { ok: true, value: JSON.parse(top) as unknown })
  for (const text of [`{"request":{"oldObject":{"a":"${padding}"}}}`, `{"request":{"oldObject":{"a":"${padding}"}},"x":"j"}`]) {
    assert.deepEqual(reviewBodyJson(bytes(text)), { ok: true, value: expected(text) }, text)
  }
  const cut = `{"request":{"oldObject":{"a":"${padding}"}}`
  assert.deepEqual(reviewBodyJson(bytes(cut)), { ok: false, error: 'body is not valid JSON' })
  assert.deepEqual(reviewBodyJson(bytes('"j"')), { ok: true, value: 'j' })
})
