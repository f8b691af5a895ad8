// Reading manifests (src/io/manifests.ts): files, directories, stdin, YAML 1.1 and JSON,
// and the limits that refuse hostile input with one line.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { test } from 'node:test'

import { EgressMtlsError } from '../../src/errors.ts'
import { parseManifest, readInputs } from '../../src/io/manifests.ts'

const parse = (text: string): unknown[] => [...parseManifest({ source: 'in.yaml', text }).documents()].map((d) => d.value).filter((v) => v !== null)
const none = Readable.from([])

test('multi-document YAML: empty documents kept as text, without a value', () => {
  const m = parseManifest({ source: 'in.yaml', text: '---\na: 1\n---\n# only a comment\n---\nb: [x]\n---\n' })
  const docs = [...m.documents()]
  assert.deepEqual(docs.map((d) => d.value), [{ a: 1n }, null, { b: ['x'] }, null])
  // the spans cover the text exactly
  assert.equal(docs.map((d) => m.input.text.slice(d.start, d.end)).join(''), m.input.text)
  assert.deepEqual(parse(''), [])
})

test('JSON, pretty or not, tabs included', () => {
  assert.deepEqual(parse('{\n\t"kind": "List",\n\t"items": []\n}\n'), [{ kind: 'List', items: [] }])
  assert.equal(parseManifest({ source: 'x', text: ' [1, 2]' }).json, true)
  // a YAML flow mapping that is not JSON is still read as YAML
  assert.deepEqual(parse('{a: 1}'), [{ a: 1n }])
  assert.equal(parseManifest({ source: 'x', text: '{a: 1}' }).json, false)
})

test('read as kubectl reads YAML (1.1 booleans), timestamps kept as strings, int64 exactly', () => {
  assert.deepEqual(parse('a: yes\nb: "yes"\nc: 2025-06-03T16:41:52Z\nd: 2025-06-03\ne: 9007199254740993\nf: 0644\n'),
    [{ a: true, b: 'yes', c: '2025-06-03T16:41:52Z', d: '2025-06-03', e: 9007199254740993n, f: 420n }])
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

test('hostile input: alias bombs, deep nesting (flow and block), one line each', () => {
  const bomb = 'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n'
  assert.throws(() => parse(bomb), { message: 'in.yaml:1: more than 100 alias expansions (an alias bomb?)' })
  assert.throws(() => parse(`a: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`), { message: 'in.yaml:1: nested more than 256 levels deep' })
  assert.throws(() => parse(`a:\n  ${'- '.repeat(20_000)}x\n`), { message: 'in.yaml:2: nested more than 256 levels deep' })
  assert.throws(() => parse(`${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`), { message: 'in.yaml:1: nested more than 256 levels deep' })
  // brackets inside quoted strings do not count; 200 levels are fine
  assert.deepEqual(parse(`a: "${'['.repeat(2000)}"\nb: '${'{'.repeat(2000)}'\n`).length, 1)
  assert.equal(parse(`a: ${'['.repeat(200)}${']'.repeat(200)}\n`).length, 1)
})

test('files, directories (sorted, manifest extensions only), -R, stdin; unreadable ones said in words', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-mtls-manifests-'))
  writeFileSync(join(dir, 'b.yaml'), 'b: 1\n')
  writeFileSync(join(dir, 'a.json'), '{"a": 1}')
  writeFileSync(join(dir, 'notes.txt'), 'not a manifest')
  mkdirSync(join(dir, 'sub'))
  writeFileSync(join(dir, 'sub', 'c.yml'), 'c: 1\n')
  const sources = async (paths: string[], recursive: boolean): Promise<string[]> =>
    (await readInputs(paths, recursive, none)).map((i) => i.source)
  assert.deepEqual(await sources([dir], false), [join(dir, 'a.json'), join(dir, 'b.yaml')])
  assert.deepEqual(await sources([dir], true), [join(dir, 'a.json'), join(dir, 'b.yaml'), join(dir, 'sub', 'c.yml')])
  assert.deepEqual(await sources([join(dir, 'notes.txt'), join(dir, 'b.yaml')], false), [join(dir, 'notes.txt'), join(dir, 'b.yaml')])
  assert.deepEqual(await readInputs(['-'], false, Readable.from([Buffer.from('a: '), Buffer.from('1\n')])), [{ source: 'stdin', text: 'a: 1\n' }])
  await assert.rejects(readInputs(['/nonexistent/m.yaml'], false, none), { message: '/nonexistent/m.yaml: cannot read: no such file or directory' })
  await assert.rejects(readInputs(['-', '-'], false, none), { message: '-f - (stdin) can be given only once' })
})

test('size cap per input (each within it, however many), NUL bytes: refused before parsing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-mtls-manifests-'))
  writeFileSync(join(dir, 'a.yaml'), 'a: 1\n'.repeat(100))
  writeFileSync(join(dir, 'b.yaml'), 'b: 1\n'.repeat(100))
  assert.equal((await readInputs([join(dir, 'a.yaml'), join(dir, 'b.yaml')], false, none, 800)).length, 2)
  writeFileSync(join(dir, 'c.yaml'), 'c: 1\n'.repeat(200))
  await assert.rejects(readInputs([join(dir, 'a.yaml'), join(dir, 'c.yaml')], false, none, 800), { message: `${join(dir, 'c.yaml')}: too large: a file or stdin may be at most ${800 / 1024 / 1024} MiB (split it; there is no limit on how many)` })
  await assert.rejects(readInputs(['-'], false, Readable.from([Buffer.alloc(1000, 'a: 1\n')]), 800), { message: /^stdin: too large/ })
  await assert.rejects(readInputs(['-'], false, Readable.from([Buffer.from('a: 1\nb: 2\n'), Buffer.alloc(10)])), { message: 'stdin:3: binary data, not YAML or JSON (a NUL byte)' })
})
