import { test } from 'node:test'
import assert from 'node:assert/strict'
import { entry, parseUserVolumes, sameEntry, serializeUserVolumes } from '../../src/core/user-volumes.ts'

test('parses the map form, keeping the order written (integer-like names too)', () => {
  const text = '{"b":{"emptyDir":{}}, "1":{"configMap":{"name":"c"}},"a":{"secret":{"secretName":"s"}}}'
  const parsed = parseUserVolumes(text)
  assert.ok(!('error' in parsed))
  assert.equal(parsed.form, 'map')
  assert.deepEqual(parsed.entries.map((e) => e.name), ['b', '1', 'a'])
  assert.deepEqual(parsed.entries[1]?.value, { configMap: { name: 'c' } })
  assert.equal(serializeUserVolumes(parsed), '{"b":{"emptyDir":{}},"1":{"configMap":{"name":"c"}},"a":{"secret":{"secretName":"s"}}}')
})

test('map form: keys inside values and escaped quotes do not confuse the key order', () => {
  const text = '{ "x\\"y" : {"name":"z", "k": ["a", {"b": "}"}]}, "w": {} }'
  const parsed = parseUserVolumes(text)
  assert.ok(!('error' in parsed))
  assert.deepEqual(parsed.entries.map((e) => e.name), ['x"y', 'w'])
  assert.equal(serializeUserVolumes(parsed), '{"x\\"y":{"name":"z","k":["a",{"b":"}"}]},"w":{}}')
})

test('map form: a repeated key counts once, at its first place, with its last value', () => {
  const parsed = parseUserVolumes('{"a":{"v":1},"b":{},"a":{"v":2}}')
  assert.ok(!('error' in parsed))
  assert.deepEqual(parsed.entries, [{ name: 'a', value: { v: 2 } }, { name: 'b', value: {} }])
})

test('parses the array form, items as written', () => {
  const text = '[ {"mountPath":"/x","name":"b"}, {"name":"a","readOnly":true} ]'
  const parsed = parseUserVolumes(text)
  assert.ok(!('error' in parsed))
  assert.equal(parsed.form, 'array')
  assert.deepEqual(parsed.entries, [
    { name: 'b', value: { mountPath: '/x', name: 'b' } },
    { name: 'a', value: { name: 'a', readOnly: true } },
  ])
  assert.equal(serializeUserVolumes(parsed), '[{"mountPath":"/x","name":"b"},{"name":"a","readOnly":true}]')
})

test('empty values of both forms', () => {
  assert.deepEqual(parseUserVolumes('{}'), { form: 'map', entries: [] })
  assert.deepEqual(parseUserVolumes(' [ ] '), { form: 'array', entries: [] })
})

test('says what is wrong with a value that is neither form', () => {
  const error = (text: string): string => {
    const parsed = parseUserVolumes(text)
    assert.ok('error' in parsed, text)
    return parsed.error
  }
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
  assert.deepEqual(entry('map', 'v', body), { name: 'v', value: body })
  assert.deepEqual(entry('array', 'v', body), { name: 'v', value: { name: 'v', ...body } })
  assert.equal(serializeUserVolumes({ form: 'array', entries: [entry('array', 'v', body)] }), '[{"name":"v","mountPath":"/etc/egress-mtls/x","readOnly":true}]')
  assert.equal(serializeUserVolumes({ form: 'map', entries: [entry('map', 'v', body)] }), '{"v":{"mountPath":"/etc/egress-mtls/x","readOnly":true}}')
  assert.ok(sameEntry({ name: 'v', value: { readOnly: true, mountPath: '/etc/egress-mtls/x' } }, 'v', body))
  assert.ok(sameEntry({ name: 'v', value: { readOnly: true, name: 'v', mountPath: '/etc/egress-mtls/x' } }, 'v', body))
  assert.ok(!sameEntry({ name: 'v', value: { mountPath: '/etc/egress-mtls/x' } }, 'v', body))
  assert.ok(!sameEntry({ name: 'v', value: { ...body, subPath: 'a' } }, 'v', body))
  assert.ok(!sameEntry({ name: 'w', value: body }, 'v', body))
})

test('what it writes, it reads back to the same bytes', () => {
  for (const text of ['{"a":{"x":[1,{"y":"z"}]},"0":{}}', '[{"name":"a","x":null},{"name":"b"}]']) {
    const parsed = parseUserVolumes(text)
    assert.ok(!('error' in parsed))
    assert.equal(serializeUserVolumes(parsed), text)
  }
})
