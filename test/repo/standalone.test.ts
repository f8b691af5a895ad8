// The repository stands alone: no file reads or links anything outside the checkout
// (.ci/run proves it for real, from a copy with nothing beside it). Every relative link of
// every Markdown file names a file of the repository.
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { test } from 'node:test'

import { repoRoot as root } from '../support/repo.ts'

const SKIP = new Set(['.git', 'node_modules', 'dist', '.e2e', 'coverage'])

function files (dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue
    const p = join(dir, e.name)
    if (e.isDirectory()) files(p, out)
    else if (e.isFile()) out.push(p)
  }
  return out
}

const all = files(root)
const inside = (p: string): boolean => !relative(root, p).startsWith(`..${sep}`) && relative(root, p) !== '..'

/** Relative link targets of a Markdown text: [text](target) and [ref]: target. */
function links (markdown: string): string[] {
  const out: string[] = []
  for (const m of markdown.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)|^\[[^\]]+\]:\s*(\S+)/gm)) {
    const target = m[1] ?? m[2] ?? ''
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue
    out.push(target.replace(/#.*$/, ''))
  }
  return out
}

test('no file names the workspace outside the repository, nor its design file', () => {
  assert.ok(all.length > 50, String(all.length))
  // Spelt in pieces so that this file does not match itself.
  // The contract is docs/design.md; the upper-case name is the file outside the repository.
  const outside = [['..', 'shared'].join('/'), ['', 'work', ''].join('/'), ['DESIGN', 'md'].join('.')]
  const found: string[] = []
  for (const f of all) {
    const text = readFileSync(f, 'latin1')
    for (const s of outside) if (text.includes(s)) found.push(`${relative(root, f)}: ${s}`)
  }
  assert.deepEqual(found, [])
})

test('every relative link in a Markdown file names a file inside the repository', () => {
  const md = all.filter((f) => f.endsWith('.md'))
  assert.ok(md.some((f) => relative(root, f) === join('docs', 'design.md')), 'docs/design.md exists')
  const bad: string[] = []
  let checked = 0
  for (const f of md) {
    for (const target of links(readFileSync(f, 'utf8'))) {
      if (target === '') continue
      const p = resolve(dirname(f), decodeURI(target))
      checked++
      if (!inside(p)) bad.push(`${relative(root, f)}: ${target} leaves the repository`)
      else if (!existsSync(p)) bad.push(`${relative(root, f)}: ${target} does not exist`)
    }
  }
  assert.ok(checked > 5, String(checked))
  assert.deepEqual(bad, [])
})

test('the link check sees a link out of the repository (it can fail)', () => {
  const away = ['..', 'elsewhere', 'design.md'].join('/')
  assert.deepEqual(links(`see [the design](${away}) and [x](https://example.com), [y](#top)\n[ref]: docs/a.md#b`), [away, 'docs/a.md'])
  assert.equal(inside(resolve(root, away)), false)
})
