// A strict stack: src/ is in layers, each module imports only from layers below its own
// (or from its own folder), and no module imports itself back through a circle. The
// layers are the layout table of docs/development.md, bottom first.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { test } from 'node:test'

import { repoRoot } from '../support/repo.ts'

/** Bottom first; units on one row are peers and may not import each other. */
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts', 'version.ts'],
  ['core/base'],
  ['core/text'],
  ['core/config'],
  ['core/istio'],
  ['core/tls'],
  ['core/admission'],
  ['core/doctor'],
  ['pki'],
  ['io'],
  ['kube', 'server'],
  ['cli'],
]

const src = join(repoRoot, 'src')
const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).sort()
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*'(\.{1,2}\/[^']+)'|(?:^|\n)\s*import\s*'(\.{1,2}\/[^']+)'|import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g

/** The modules of src/ each module imports, as paths relative to src/. */
const imports = new Map(files.map((f) => {
  const text = readFileSync(join(src, f), 'utf8')
  const targets = [...text.matchAll(IMPORT)].map((m) => normalize(join(dirname(f), m[1] ?? m[2] ?? m[3] ?? '')))
  return [f, targets.filter((t) => !relative(src, join(src, t)).startsWith('..'))]
}))

/** The unit of a module: its folder (core/<domain> within core), or the file at the top. */
function unit (file: string): string {
  const parts = file.split('/')
  if (parts.length === 1) return file
  return parts[0] === 'core' ? `core/${parts[1] ?? ''}` : parts[0] ?? file
}

const layerOf = (u: string): number => LAYERS.findIndex((row) => row.includes(u))

test('every unit of src/ has a layer', () => {
  assert.deepEqual([...new Set(files.map(unit))].filter((u) => layerOf(u) < 0), [])
})

test('nothing imports upward or sideways across units', () => {
  const wrong: string[] = []
  for (const [from, targets] of imports) {
    for (const to of targets) {
      if (unit(from) !== unit(to) && layerOf(unit(to)) >= layerOf(unit(from))) wrong.push(`${from} -> ${to}`)
    }
  }
  assert.deepEqual(wrong, [])
})

test('no import circle', () => {
  const circles: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return
    if (state.get(f) === 'open') {
      circles.push([...path.slice(path.indexOf(f)), f].join(' -> '))
      return
    }
    state.set(f, 'open')
    for (const t of imports.get(f) ?? []) visit(t, [...path, f])
    state.set(f, 'done')
  }
  for (const f of files) visit(f, [])
  assert.deepEqual(circles, [])
})
