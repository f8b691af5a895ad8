// Hostile configuration files: `render` (and every command that reads --config) exits 2 with
// one line naming the problem, never a stack trace, within a 64 MiB V8 heap.
import assert from 'node:assert/strict'
import { closeSync, ftruncateSync, mkdtempSync, openSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { cliMain as main } from '../support/repo.ts'
import { run } from '../support/run.ts'

const dir = mkdtempSync(join(tmpdir(), 'egress-mtls-hostile-'))

/** Runs `render` with a heap far below what the unguarded parser needed (1 GB for the `[` case). */
const render = (file: string) => run(process.execPath, ['--max-old-space-size=64', main, 'render', '--config', file], {
  env: { ...process.env, EGRESS_MTLS_CONFIG: '' }, timeoutMs: 60_000,
})

const aliasBomb = ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array<string>(9).fill(`*${'abcdefg'[i] ?? ''}`).join(', ')}]`)].join('\n')

const cases: readonly { name: string, write: (file: string) => void, stderr: RegExp }[] = [
  { name: 'an alias bomb', write: (f) => { writeFileSync(f, aliasBomb) }, stderr: /: cannot be read: Excessive alias count/ },
  { name: '20,000-deep nesting', write: (f) => { writeFileSync(f, `targets: ${'['.repeat(20_000)}${']'.repeat(20_000)}`) }, stderr: /:1: nests deeper than 32 levels$/ },
  { name: 'a mebibyte of "["', write: (f) => { writeFileSync(f, '['.repeat(1024 * 1024 - 1)) }, stderr: /:1: nests deeper than 32 levels$/ },
  { name: '20 MB of NULs', write: (f) => { writeFileSync(f, Buffer.alloc(20 * 1024 * 1024)) }, stderr: /: is 20971520 bytes; a configuration is at most 1048576 bytes/ },
  { name: 'a NUL in a small file', write: (f) => { writeFileSync(f, 'targets: []\n\0') }, stderr: /:2: contains the control character U\+0000/ },
  {
    name: 'a 4 GiB file (sparse: refused from its size, never read)',
    write: (f) => { const fd = openSync(f, 'w'); ftruncateSync(fd, 4 * 1024 ** 3); closeSync(fd) },
    stderr: /: is 4294967296 bytes; a configuration is at most 1048576 bytes/,
  },
  { name: 'an empty file', write: (f) => { writeFileSync(f, '') }, stderr: /: is empty: a configuration needs at least `targets`/ },
  { name: 'a directory', write: () => undefined, stderr: /: cannot be read: is a directory$/ },
]

for (const c of cases) {
  test(`render refuses ${c.name}: exit 2, one line`, async () => {
    const file = c.name === 'a directory' ? dir : join(dir, `${c.name.replaceAll(/\W+/g, '-')}.yaml`)
    c.write(file)
    const r = await render(file)
    assert.equal(r.code, 2, r.stderr)
    assert.equal(r.stdout, '')
    const lines = r.stderr.split('\n').filter((l) => l !== '')
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0] ?? '', /^egress-mtls: invalid configuration: /)
    assert.match(lines[0] ?? '', c.stderr)
  })
}
