// The Kubernetes name rules of core/base/name-patterns.ts: each pinned to the exact pattern its
// callers used before it had one home, and to a table of names it accepts and refuses.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import {
  DNS1123_HOSTNAME_FORMAT, DNS1123_LABEL, DNS1123_LABEL_FORMAT, DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_CHARACTERS, LABEL_VALUE,
} from '../../src/core/base/name-patterns.ts'

const a = (n: number, c = 'a'): string => c.repeat(n)
/** `n` labels of `size` characters joined by dots. */
const labels = (n: number, size: number): string => Array.from({ length: n }, () => a(size)).join('.')

test('each pattern is the one its callers used (the chart\'s values.schema.json embeds the schema ones)', () => {
  assert.equal(DNS1123_LABEL.source, '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')
  assert.equal(DNS1123_LABEL_FORMAT, '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
  assert.equal(DNS1123_SUBDOMAIN.source, '^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
  assert.equal(DNS1123_HOSTNAME_FORMAT, '^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$')
  assert.equal(DNS1123_SUBDOMAIN_CHARACTERS.source, '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')
  assert.equal(LABEL_VALUE.source, '^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')
  for (const r of [DNS1123_LABEL, DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_CHARACTERS, LABEL_VALUE]) assert.equal(r.flags, '')
})

// Columns: label, label format (no length limit), subdomain, host name, subdomain characters, label value.
const TABLE: readonly [string, string, readonly boolean[]][] = [
  ['one letter', 'a', [true, true, true, true, true, true]],
  ['digits and dashes', '0-web-1', [true, true, true, true, true, true]],
  ['63 characters', a(63), [true, true, true, true, true, true]],
  ['64 characters', a(64), [false, true, true, false, true, false]],
  ['dotted', 'api.bank.example.com', [false, false, true, true, true, true]],
  ['a 64-character label in a subdomain', `${a(64)}.b`, [false, false, true, false, true, false]],
  ['253 characters of 63-character labels', `${labels(3, 63)}.${a(61)}`, [false, false, true, true, true, false]],
  ['254 characters', `${labels(3, 63)}.${a(62)}`, [false, false, false, false, true, false]],
  ['empty', '', [false, false, false, false, false, false]],
  ['upper case', 'Web', [false, false, false, false, false, true]],
  ['an underscore', 'a_b', [false, false, false, false, false, true]],
  ['leading dash', '-web', [false, false, false, false, false, false]],
  ['trailing dash', 'web-', [false, false, false, false, false, false]],
  ['trailing dot', 'web.', [false, false, false, false, false, false]],
  ['two dots', 'a..b', [false, false, false, false, true, true]],
  ['a label starting with a dash', 'a.-b', [false, false, false, false, true, true]],
  ['a wildcard', '*.example.com', [false, false, false, false, false, false]],
  ['a slash', 'a/b', [false, false, false, false, false, false]],
  ['a line break after the name', 'web\n', [false, false, false, false, false, false]],
]

test('what each pattern accepts and refuses', () => {
  const patterns: readonly [string, RegExp][] = [
    ['DNS1123_LABEL', DNS1123_LABEL],
    ['DNS1123_LABEL_FORMAT', new RegExp(DNS1123_LABEL_FORMAT)],
    ['DNS1123_SUBDOMAIN', DNS1123_SUBDOMAIN],
    ['DNS1123_HOSTNAME_FORMAT', new RegExp(DNS1123_HOSTNAME_FORMAT)],
    ['DNS1123_SUBDOMAIN_CHARACTERS', DNS1123_SUBDOMAIN_CHARACTERS],
    ['LABEL_VALUE', LABEL_VALUE],
  ]
  for (const [what, name, expected] of TABLE) {
    patterns.forEach(([patternName, pattern], i) => {
      assert.equal(pattern.test(name), expected[i], `${patternName} on ${what} (${JSON.stringify(name)})`)
    })
  }
})
