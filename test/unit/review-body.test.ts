// reviewBodyJson(): JSON.parse's verdict on every body, and its value but for request.oldObject
// and request.object.metadata.managedFields, each checked and left unparsed only where it is that.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isDeepStrictEqual } from 'node:util'

import fc from 'fast-check'

import { reviewBodyJson, UNPARSED } from '../../src/core/admission/review-body.ts'
import { isRecord } from '../../src/core/base/json.ts'
import { type JsonObject, labelledUpdate, unlabelledCreate } from '../support/reviews.ts'

const bytes = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))

/** JSON.parse's value, with request.oldObject (and the object's managedFields, if `managedFields`) as reviewBodyJson leaves them. */
function expected (text: string, managedFields = true): unknown {
  const body = JSON.parse(text) as { request: JsonObject }
  body.request['oldObject'] = UNPARSED
  const metadata = (body.request['object'] as JsonObject | undefined)?.['metadata'] as JsonObject | undefined
  if (managedFields && metadata?.['managedFields'] !== undefined) metadata['managedFields'] = UNPARSED
  return body
}

test('an UPDATE as kube-apiserver sends it: everything parsed but oldObject and the object\'s managedFields, checked and left unparsed', () => {
  const text = JSON.stringify(labelledUpdate())
  const value: unknown = expected(text)
  assert.notDeepEqual(value, expected(text, false))
  assert.deepEqual(reviewBodyJson(bytes(text)), { ok: true, value })
})

test('a key managedFields before the object\'s: the object\'s managedFields parsed, nothing else differs', () => {
  const review = labelledUpdate()
  const request = review['request'] as JsonObject
  const object = request['object'] as JsonObject
  const metadata = object['metadata'] as JsonObject
  const long = 'v'.repeat(300)
  const variants: [string, JsonObject][] = [
    // An annotation named managedFields comes first in metadata.
    ['an annotation', { ...review, request: { ...request, object: { ...object, metadata: { ...metadata, annotations: { ...(metadata['annotations'] as JsonObject), managedFields: long } } } } }],
    // In the envelope: userInfo.extra, a map any authenticator fills.
    ['userInfo.extra', { ...review, request: { ...request, userInfo: { username: 'u', extra: { managedFields: [long] } } } }],
    // The object's own managedFields spelled as the text the webhook puts in place of it.
    ['userInfo.extra, and the object\'s managedFields the placeholder', { ...review, request: { ...request, userInfo: { username: 'u', extra: { managedFields: [long] } }, object: { ...object, metadata: { ...metadata, managedFields: UNPARSED } } } }],
    // A short managedFields: parsed with the rest.
    ['a short one', { ...review, request: { ...request, object: { ...object, metadata: { ...metadata, managedFields: [] } } } }],
  ]
  for (const [name, variant] of variants) {
    const text = JSON.stringify(variant)
    assert.deepEqual(reviewBodyJson(bytes(text)), { ok: true, value: expected(text, false) }, name)
  }
})

test('a CREATE (oldObject null) and a body without oldObject: parsed whole', () => {
  for (const review of [unlabelledCreate(), { ...unlabelledCreate(), request: { ...(unlabelledCreate()['request'] as JsonObject), oldObject: undefined } }]) {
    const text = JSON.stringify(review)
    const value: unknown = JSON.parse(text)
    assert.deepEqual(reviewBodyJson(bytes(text)), { ok: true, value })
  }
})

test('an oldObject or a managedFields that is not JSON: the body is not JSON', () => {
  const text = JSON.stringify(labelledUpdate())
  const inside = [text.lastIndexOf('"oldObject":{') + '"oldObject":{'.length, text.indexOf('"managedFields":[{') + '"managedFields":['.length]
  for (const at of inside) {
    for (const broken of ['"a":,', '1,,', '"a":1,,', '"\u0001",', '"a":"\u0001",', '01,', '"a":01,', '[1,],', '"a":[1,],', '"a":"\\x",', '{"a"},']) {
      const body = `${text.slice(0, at)}${broken}${text.slice(at)}`
      assert.throws(() => JSON.parse(body))
      assert.deepEqual(reviewBodyJson(bytes(body)), { ok: false, error: 'body is not valid JSON' }, `${text.slice(at - 16, at)}${broken}`)
    }
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
  // Then the object's managedFields before it is left out too.
  const parsedReview = JSON.parse(JSON.stringify(review)) as { request: { object: { metadata: { managedFields: unknown } } } }
  parsedReview.request.object.metadata.managedFields = UNPARSED
  assert.deepEqual(got.value, { ...parsedReview, extra: { oldObject: UNPARSED } })
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
    // What the webhook reads: all but request.oldObject and request.object.metadata.managedFields.
    // Of other members' members, only one named oldObject may differ (two deep, not under
    // request: never read).
    const read = (v: unknown): unknown => isRecord(v)
      ? Object.fromEntries(Object.entries(v).map(([k, m]) => [k, isRecord(m) ? { ...m, oldObject: undefined, object: withoutManagedFields(m['object']) } : m]))
      : v
    const withoutManagedFields = (o: unknown): unknown => isRecord(o) && isRecord(o['metadata'])
      ? { ...o, metadata: { ...o['metadata'], managedFields: undefined } }
      : o
    assert.deepEqual(read(got.value), read(value))
    // managedFields is left out only where it is request.object.metadata's, and only as a whole.
    const mf = (v: unknown): unknown => {
      const r = isRecord(v) ? v['request'] : undefined
      const o = isRecord(r) ? r['object'] : undefined
      return isRecord(o) && isRecord(o['metadata']) ? o['metadata']['managedFields'] : undefined
    }
    if (!isDeepStrictEqual(mf(got.value), mf(value))) assert.equal(mf(got.value), UNPARSED)
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
