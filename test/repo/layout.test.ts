// The layout table of docs/development.md names every folder of the repository: each top-level folder,
// each folder of src/ and test/, and each folder of scripts/ (in the scripts row), so the
// folder names tell a newcomer where things live and the table stays true.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { test } from 'node:test'

import { repoRoot as root } from '../support/repo.ts'

const SKIP = new Set(['.git', 'node_modules', 'dist', '.e2e', 'coverage', 'scratch'])
const folders = (dir: string): string[] =>
  readdirSync(`${root}${dir}`, { withFileTypes: true }).filter((e) => e.isDirectory() && !SKIP.has(e.name)).map((e) => e.name).sort()

const doc = readFileSync(`${root}docs/development.md`, 'utf8')
const table = doc.slice(doc.indexOf('| folder | what |'))
const rows = table.slice(0, table.indexOf('\n\n')).split('\n')
/** The backquoted names of the table's first column, and the whole scripts row. */
const named = new Set(rows.flatMap((r) => [...(r.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1])))
const scriptsRow = rows.find((r) => r.startsWith('| `scripts` |')) ?? ''

test('the layout table of docs/development.md names every top-level folder, every folder of src/, src/core/ and test/', () => {
  assert.ok(rows.length > 5, 'docs/development.md has a layout table (| folder | what |)')
  const missing = [
    ...folders('').filter((f) => f !== 'src' && f !== 'test' && f !== 'scripts' && f !== 'charts' && !named.has(f)),
    ...folders('src').map((f) => `src/${f}`).filter((f) => !named.has(f)),
    ...folders('src/core').map((f) => `src/core/${f}`).filter((f) => !named.has(f)),
    ...folders('test').map((f) => `test/${f}`).filter((f) => !named.has(f)),
    ...folders('charts').map((f) => `charts/${f}`).filter((f) => !named.has(f)),
  ]
  assert.deepEqual(missing, [])
})

test('the scripts row names every folder of scripts/', () => {
  assert.ok(named.has('scripts'))
  assert.deepEqual(folders('scripts').filter((f) => !scriptsRow.includes(`\`${f}\``) && !scriptsRow.includes(`\`${f}/`)), [])
})
