import assert from 'node:assert/strict'
import { test } from 'node:test'

import { editUserVolumes, entry, newUserVolumes, parseUserVolumes, sameEntry, type UserVolumes } from '../../src/core/admission/user-volumes.ts'

function parsed (text: string): UserVolumes {
  const v = parseUserVolumes(text)
  assert.ok(v.ok, v.ok ? '' : v.error)
  return v.value
}

/** Why a value is refused: the test fails if it is not. */
function errorOf (text: string): string {
  const v = parseUserVolumes(text)
  assert.ok(!v.ok, text)
  return v.error
}

/** The value with its entries as they are: what editing changes nothing gives. */
const same = (v: UserVolumes): string => editUserVolumes(v, v.entries, [])

test('parses the map form, keeping the order written (integer-like names too)', () => {
  const text = '{"b":{"emptyDir":{}}, "1":{"configMap":{"name":"c"}},"a":{"secret":{"secretName":"s"}}}'
  const result = parseUserVolumes(text)
  assert.ok(result.ok)
  const parsed = result.value
  assert.equal(parsed.form, 'map')
  assert.deepEqual(parsed.entries.map((e) => e.name), ['b', '1', 'a'])
  assert.deepEqual(parsed.entries[1]?.value, { configMap: { name: 'c' } })
  assert.deepEqual(parsed.entries.map((e) => e.text), ['"b":{"emptyDir":{}}', '"1":{"configMap":{"name":"c"}}', '"a":{"secret":{"secretName":"s"}}'])
  assert.equal(same(parsed), text)
})

test('map form: keys inside values and escaped quotes do not confuse the key order', () => {
  const text = '{ "x\\"y" : {"name":"z", "k": ["a", {"b": "}"}]}, "w": {} }'
  const result = parseUserVolumes(text)
  assert.ok(result.ok)
  const parsed = result.value
  assert.deepEqual(parsed.entries.map((e) => e.name), ['x"y', 'w'])
  assert.deepEqual(parsed.entries.map((e) => e.text), ['"x\\"y" : {"name":"z", "k": ["a", {"b": "}"}]}', '"w": {}'])
  assert.deepEqual([parsed.head, parsed.separators, parsed.tail], ['{ ', [', '], ' }'])
  assert.equal(same(parsed), text)
})

test('map form: a repeated key is one entry per place, each with its own value', () => {
  const { entries } = parsed('{"a":{"v":1},"b":{},"a":{"v":2}}')
  assert.deepEqual(entries, [{ name: 'a', value: { v: 1 }, text: '"a":{"v":1}' }, { name: 'b', value: {}, text: '"b":{}' }, { name: 'a', value: { v: 2 }, text: '"a":{"v":2}' }])
  assert.match(errorOf('{"a":{},"a":3}'), /entry "a" is not an object/)
})

test('parses the array form, items as written', () => {
  const text = '[ {"mountPath":"/x","name":"b"}, {"name":"a","readOnly":true} ]'
  const result = parseUserVolumes(text)
  assert.ok(result.ok)
  const parsed = result.value
  assert.equal(parsed.form, 'array')
  assert.deepEqual(parsed.entries, [
    { name: 'b', value: { mountPath: '/x', name: 'b' }, text: '{"mountPath":"/x","name":"b"}' },
    { name: 'a', value: { name: 'a', readOnly: true }, text: '{"name":"a","readOnly":true}' },
  ])
  assert.equal(same(parsed), text)
})

test('empty values of both forms', () => {
  assert.deepEqual(parsed('{}'), { form: 'map', entries: [], head: '{', separators: [], tail: '}' })
  assert.deepEqual(parsed(' [ ] '), { form: 'array', entries: [], head: ' [', separators: [], tail: ' ] ' })
  assert.equal(editUserVolumes(parsed(' [ ] '), [], [entry('array', 'v', {})]), ' [{"name":"v"} ] ')
})

test('says what is wrong with a value that is neither form', () => {
  const error = errorOf
  assert.match(error('{"a":'), /^is not valid JSON \(/)
  assert.match(error(''), /^is not valid JSON/)
  assert.equal(error('"a"'), 'is neither a JSON object keyed by name nor a JSON array of named items')
  assert.equal(error('null'), 'is neither a JSON object keyed by name nor a JSON array of named items')
  assert.equal(error('[{"name":"a"},{"emptyDir":{}}]'), 'is a JSON array whose item 1 is not an object with a "name"')
  assert.equal(error('[{"name":""}]'), 'is a JSON array whose item 0 is not an object with a "name"')
  assert.equal(error('[{"name":"a"}, 3]'), 'is a JSON array whose item 1 is not an object with a "name"')
  assert.equal(error('{"a":{},"b":"c"}'), 'is a JSON object whose entry "b" is not an object')
  assert.equal(error('{"a":[]}'), 'is a JSON object whose entry "a" is not an object')
})

test('entries in each form, compared whatever the form and key order', () => {
  const body = { mountPath: '/etc/egress-mtls/x', readOnly: true }
  assert.deepEqual(entry('map', 'v', body), { name: 'v', value: body, text: '"v":{"mountPath":"/etc/egress-mtls/x","readOnly":true}' })
  assert.deepEqual(entry('array', 'v', body), { name: 'v', value: { name: 'v', ...body }, text: '{"name":"v","mountPath":"/etc/egress-mtls/x","readOnly":true}' })
  assert.equal(newUserVolumes('array', [entry('array', 'v', body)]), '[{"name":"v","mountPath":"/etc/egress-mtls/x","readOnly":true}]')
  assert.equal(newUserVolumes('map', [entry('map', 'v', body)]), '{"v":{"mountPath":"/etc/egress-mtls/x","readOnly":true}}')
  assert.ok(sameEntry({ name: 'v', value: { readOnly: true, mountPath: '/etc/egress-mtls/x' } }, 'v', body))
  assert.ok(sameEntry({ name: 'v', value: { readOnly: true, name: 'v', mountPath: '/etc/egress-mtls/x' } }, 'v', body))
  assert.ok(!sameEntry({ name: 'v', value: { mountPath: '/etc/egress-mtls/x' } }, 'v', body))
  assert.ok(!sameEntry({ name: 'v', value: { ...body, subPath: 'a' } }, 'v', body))
  assert.ok(!sameEntry({ name: 'w', value: body }, 'v', body))
})

test('what it writes, it reads back to the same bytes', () => {
  for (const text of ['{"a":{"x":[1,{"y":"z"}]},"0":{}}', '[{"name":"a","x":null},{"name":"b"}]']) {
    assert.equal(same(parsed(text)), text)
  }
})

test('edits around the user\'s entries: their text stays exactly as written, numbers, escapes, key order and spacing', () => {
  const user = '{ "big" : {"emptyDir": {"sizeLimit": 9007199254740993}},\n  "r\\u00e9al":{"x":1.50,"a":"\\/"} }'
  const v = parsed(user)
  const ours = entry('map', 'egress-mtls-a', { mountPath: '/m', readOnly: true })
  const added = editUserVolumes(v, v.entries, [ours])
  assert.equal(added, '{ "big" : {"emptyDir": {"sizeLimit": 9007199254740993}},\n  "r\\u00e9al":{"x":1.50,"a":"\\/"},"egress-mtls-a":{"mountPath":"/m","readOnly":true} }')
  // removing ours again gives the value back, byte for byte
  const back = parsed(added)
  assert.equal(editUserVolumes(back, [back.entries[0], back.entries[1], undefined], []), user)
  // removing the first entry takes the separator after it; a middle one the one before it
  const three = parsed('[ {"name":"a"} ,\n {"name":"b"},{"name":"c"}\n]')
  assert.equal(editUserVolumes(three, [undefined, three.entries[1], three.entries[2]], []), '[ {"name":"b"},{"name":"c"}\n]')
  assert.equal(editUserVolumes(three, [three.entries[0], undefined, three.entries[2]], []), '[ {"name":"a"},{"name":"c"}\n]')
  assert.equal(editUserVolumes(three, [three.entries[0], three.entries[1], undefined], []), '[ {"name":"a"} ,\n {"name":"b"}\n]')
  // an entry replaced keeps its place and the text around it
  assert.equal(editUserVolumes(three, [three.entries[0], entry('array', 'b', { x: 1 }), three.entries[2]], []), '[ {"name":"a"} ,\n {"name":"b","x":1},{"name":"c"}\n]')
})

test('bounded: a value over 256 KiB or nested deeper than 64 levels is refused before it is parsed', () => {
  const error = errorOf
  assert.equal(error('['.repeat(1_450_000) + ']'.repeat(1_450_000)),
    'is over 262144 bytes (256 KiB, the API server\'s limit for all annotations of an object together): refused unread')
  // 256 KiB counted in UTF-8 bytes, not characters
  const body = (n: number): string => `{"v":{"x":"${'é'.repeat(n)}"}}`
  assert.ok(parseUserVolumes(body((256 * 1024 - 14) / 2)).ok)
  assert.match(error(body((256 * 1024 - 14) / 2 + 1)), /^is over 262144 bytes/)
  assert.equal(error('['.repeat(100_000) + ']'.repeat(100_000)), 'nests deeper than 64 levels: refused unread')
  const nested = (depth: number): string => `{"v":${'{"a":'.repeat(depth - 2)}{}${'}'.repeat(depth - 2)}}`
  assert.ok(parseUserVolumes(nested(64)).ok)
  assert.equal(error(nested(65)), 'nests deeper than 64 levels: refused unread')
  // brackets inside strings do not count
  assert.ok(parseUserVolumes(`{"v":{"x":"${'['.repeat(1000)}"}}`).ok)
})
