// yamlTooDeep: the nesting of a YAML text, found before the parser recurses into it. It must
// never underestimate what the parser builds, and stay close for ordinary documents.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { test } from 'node:test'

import fc from 'fast-check'
import { stringify } from 'yaml'

import { yamlTooDeep } from '../../src/core/text/yaml-nesting.ts'

/** The smallest limit the text stays within. */
const depthOf = (text: string): number => {
  let max = 0
  while (yamlTooDeep(text, max) !== undefined) max++
  return max
}

/** Collections nested in a value: a scalar is 0, `[]` is 1, `[[1]]` is 2. */
const nesting = (v: unknown): number => {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(nesting))
  if (typeof v === 'object' && v !== null) return 1 + Math.max(0, ...Object.values(v).map(nesting))
  return 0
}

test('never less than the nesting the parser builds, in block, flow and JSON styles', () => {
  const key = fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/)
  const scalar = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 12 }))
  const value = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(key, tie('v'), { maxKeys: 3 })),
  })).v
  fc.assert(fc.property(value, (v) => {
    const n = nesting(v)
    for (const text of [stringify(v), stringify(v, { collectionStyle: 'flow' }), JSON.stringify(v, null, 2), JSON.stringify(v)]) {
      const d = depthOf(text)
      assert.ok(d >= n, `depth ${d} < nesting ${n} for ${text}`)
      assert.ok(d <= 2 * n + 2, `depth ${d} far above nesting ${n} for ${text}`)
    }
  }), { numRuns: 500 })
})

test('quoted scalars, comments, block scalars and plain brackets do not count', () => {
  assert.equal(depthOf('a: "[[[[{{"\nb: \'[[[\'\nc: d[0]\ne: 1 # [[[[\n'), 1)
  assert.equal(depthOf('script: |\n  [[[[[[\n  {{{{\n    [[[[\nnext: [1]\n'), 2)
  assert.equal(depthOf('a: "multi\n  [[[[ line"\n'), 1)
})

test('the repository\'s own YAML is shallow', () => {
  const files = ['examples/config.yaml', 'charts/egress-mtls/values.yaml', ...readdirSync('charts/egress-mtls/templates').filter((f) => f.endsWith('.yaml')).map((f) => `charts/egress-mtls/templates/${f}`)]
  for (const f of files) assert.ok(depthOf(readFileSync(f, 'utf8')) <= 16, f)
})

test('hostile nesting is found at once, on its line', () => {
  assert.deepEqual(yamlTooDeep(`a: 1\nb: ${'['.repeat(1 << 20)}`, 32), { line: 2, depth: 33 })
  assert.deepEqual(yamlTooDeep('- '.repeat(1 << 19), 32), { line: 1, depth: 33 })
  let blocks = ''
  for (let i = 0; i < 40; i++) blocks += `${' '.repeat(i)}k:\n`
  assert.deepEqual(yamlTooDeep(blocks, 32), { line: 33, depth: 33 })
})
