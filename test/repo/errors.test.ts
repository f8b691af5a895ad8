// The catalogue of the program's errors (src/errors.ts) against the README's table and the
// code that uses it, as messages.test.ts checks the admission's: a code added, renamed or
// dropped in one place and not the others fails here.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { type ErrorCode, ERRORS } from '../../src/errors.ts'
import { repoRoot } from '../support/repo.ts'

const codes = Object.keys(ERRORS) as ErrorCode[]
const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')

test('the README lists every code with its exit code, in the catalogue\'s order, and no other', () => {
  const rows = [...readme.matchAll(/^\| `(EMTLS_CLI_[A-Z_]+)` \| exit (\d) \|/gm)].map((m) => [m[1] ?? '', Number(m[2])] as const)
  assert.deepEqual(rows, codes.map((c) => [c, ERRORS[c].exit]), 'README.md "Errors"')
})

test('every code is used in src/, and errors are made only through the catalogue', () => {
  const src = join(repoRoot, 'src')
  const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && f !== 'errors.ts')
  const sources = files.map((f) => readFileSync(join(src, f), 'utf8')).join('\n')
  for (const code of codes.filter((c) => c !== 'EMTLS_CLI_CONFIG_INVALID')) {
    assert.match(sources, new RegExp(`cliError(From)?\\([^)]*'${code}'`), `${code} is not used`)
  }
  assert.match(sources, /new ConfigError\(/)
  assert.doesNotMatch(sources, /new EgressMtlsError\(/, 'an error outside the catalogue')
})
