import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { EgressMtlsError } from '../../src/errors.ts'
import { parseManifests, readInput, stringifyManifests } from '../../src/io/manifests.ts'

const parse = (text: string): unknown[] => parseManifests({ source: 'in.yaml', text })

test('multi-document YAML, empty documents left out', () => {
  assert.deepEqual(parse('---\na: 1\n---\n# only a comment\n---\nb: [x]\n---\n'), [{ a: 1 }, { b: ['x'] }])
  assert.deepEqual(parse(''), [])
})

test('JSON, pretty or not, tabs included', () => {
  assert.deepEqual(parse('{\n\t"kind": "List",\n\t"items": []\n}\n'), [{ kind: 'List', items: [] }])
  assert.deepEqual(parse(' [1, 2]'), [[1, 2]])
  // a YAML flow mapping that is not JSON is still read as YAML
  assert.deepEqual(parse('{a: 1}'), [{ a: 1 }])
})

test('read as kubectl reads YAML (1.1 booleans), timestamps kept as strings', () => {
  assert.deepEqual(parse('a: yes\nb: "yes"\nc: 2025-06-03T16:41:52Z\nd: 2025-06-03\n'), [{ a: true, b: 'yes', c: '2025-06-03T16:41:52Z', d: '2025-06-03' }])
})

test('errors name the source and the line', () => {
  assert.throws(() => parse('a: 1\nb: [1,\nc: 2\n---\nd: }\n'), (err: unknown) => {
    assert.ok(err instanceof EgressMtlsError)
    assert.equal(err.exitCode, 2)
    assert.equal(err.message, 'in.yaml:3: Flow sequence in block collection must be sufficiently indented and end with a ]')
    return true
  })
  assert.throws(() => parse('ok: 1\n---\nkey: value\nkey: again\n'), { message: /^in\.yaml:4: Map keys must be unique/ })
})

test('writes YAML documents that read back the same, ambiguous strings quoted, long strings on one line', () => {
  const values = [{ a: 'yes', b: 'on', c: '2025-06-03', d: '0755', e: true, f: 'x'.repeat(120), g: '{"k":"v"}' }, { h: null }]
  const text = stringifyManifests(values)
  assert.equal(text, `a: "yes"\nb: "on"\nc: "2025-06-03"\nd: "0755"\ne: true\nf: ${'x'.repeat(120)}\ng: '{"k":"v"}'\n---\nh: null\n`)
  assert.deepEqual(parse(text), values)
})

test('reads stdin for "-", and names an unreadable file', async () => {
  assert.deepEqual(await readInput('-', Readable.from([Buffer.from('a: '), Buffer.from('1\n')])), { source: 'stdin', text: 'a: 1\n' })
  await assert.rejects(readInput('/nonexistent/m.yaml', Readable.from([])), { message: '/nonexistent/m.yaml: cannot read: ENOENT' })
})
