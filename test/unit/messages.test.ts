// The catalogue of admission warnings and denials (src/core/admission/messages.ts) against the README's
// table and the code that uses it, as Fastify's errors test checks its README: a code added,
// renamed or dropped in one place and not the others fails here.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { test } from 'node:test'

import { type Code, message, MESSAGES } from '../../src/core/admission/messages.ts'

const codes = Object.keys(MESSAGES) as Code[]
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

/** The README's table rows: code → its "as" column. */
function readmeRows (): Map<string, string> {
  const rows = new Map<string, string>()
  for (const m of readme.matchAll(/^\| `(EMTLS_[A-Z_]+)` \| (\w+) \|/gm)) rows.set(m[1] ?? '', m[2] ?? '')
  return rows
}

test('codes are EMTLS_ and upper snake case', () => {
  for (const code of codes) assert.match(code, /^EMTLS_[A-Z]+(_[A-Z]+)*$/)
})

test('the README lists every code of the catalogue, as a warning or a denial as the catalogue says, and no other', () => {
  const rows = readmeRows()
  for (const code of codes) assert.equal(rows.get(code), MESSAGES[code].as, `README.md "Admission warnings and denials": ${code}`)
  for (const code of rows.keys()) assert.ok(Object.hasOwn(MESSAGES, code), `README.md lists ${code}, which the catalogue does not have`)
  assert.deepEqual([...rows.keys()], codes, 'the README lists the codes in the catalogue\'s order')
})

test('every code is used by core, and only through message()', () => {
  const dir = new URL('../../src/core/', import.meta.url)
  const sources = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('messages.ts')).map((f) => readFileSync(new URL(f, dir), 'utf8')).join('\n')
  for (const code of codes) assert.ok(sources.includes(`message('${code}'`), `${code} is not used`)
  // no text of the catalogue is written out elsewhere: core says egress-mtls: once, in admit.ts
  assert.equal(sources.match(/`egress-mtls: \$\{/g)?.length, 1)
})

/** Arguments for each code's text; the type makes a code without a sample fail to compile. */
const SAMPLES: { readonly [C in Code]: Parameters<(typeof MESSAGES)[C]['text']> } = {
  EMTLS_INJECT_LABEL_INVALID: ['yes'],
  EMTLS_NOT_OPTED_IN: [],
  EMTLS_OPT_IN_ON_POD_TEMPLATE: ['Deployment'],
  EMTLS_TARGETS_ON_POD_TEMPLATE: ['Deployment', ['bank-api', 'tax-gw']],
  EMTLS_NAMESPACE_EXCLUDED: ['kube-system'],
  EMTLS_NO_TARGET_AVAILABLE: ['shop'],
  EMTLS_TARGETS_EMPTY: ['shop', []],
  EMTLS_TARGET_UNKNOWN: ['nope', 'shop', ['bank-api']],
  EMTLS_TARGET_UNAVAILABLE: ['tax-gw', 'shop', ['bank-api']],
  EMTLS_TARGETS_MORE: [3],
  EMTLS_TARGET_AT_WAYPOINT: ['bank-api', 'istio-egress/waypoint'],
  EMTLS_TARGETS_TOO_BIG: [],
  EMTLS_HOST_SHARED: ['api.bank.example.com', ['merchant-a', 'merchant-b']],
  EMTLS_TARGETS_SHARE_HOST: ['api.bank.example.com', ['merchant-a', 'merchant-b']],
  EMTLS_INJECTED_TOO_BIG: [],
  EMTLS_USER_VOLUME_UNREADABLE: ['sidecar.istio.io/userVolume', 'is not valid JSON'],
  EMTLS_USER_VOLUME_CONFLICT: ['sidecar.istio.io/userVolume', 'egress-mtls-bank-api', 'bank-api', '{}'],
  EMTLS_USER_VOLUME_NAME_MISMATCH: ['sidecar.istio.io/userVolume', 'egress-mtls-bank-api', 'elsewhere', 'egress-mtls-bank-api'],
  EMTLS_PROXY_CONFIG_KEPT: [['cluster\\.outbound\\|[0-9]+\\|\\|api\\.bank\\.example\\.com;\\.ssl\\..*']],
  EMTLS_JOB_TEMPLATE_REFUSED: ['Job', 'egress-mtls: annotation egress-mtls.io/targets is over 262144 bytes'],
  EMTLS_JOB_TEMPLATE_DIFFERS: ['Job', 'bank-api', ''],
  EMTLS_OBJECT_UNREADABLE: ['metadata', 'an object'],
  EMTLS_INTERNAL_ERROR: [new Error('boom')],
}

test('texts are bare (the prefix is the answer\'s), one line, and made with message()', () => {
  for (const code of codes) {
    const m = message(code, ...SAMPLES[code])
    assert.equal(m.code, code)
    assert.match(m.text, /^(?!egress-mtls:)\S[^\n]*$/, code)
  }
})
