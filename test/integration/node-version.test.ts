// The CLI's entry point on an unsupported Node: one line, exit 2, before anything that
// could crash (on Node 20, `serve` and `probe` used to fail deep inside with "Cannot read
// properties of undefined (reading 'getTime')"). Run with the system's older Node (CI's
// machine has Node 20 only; npm ci brings Node 24 for everything else).
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { repoRoot } from '../support/repo.ts'

const bin = join(repoRoot, 'bin', 'egress-mtls.js')
const engines = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node

/** Every `node` on the PATH but npm's, with its version. */
function nodes (): { path: string, version: string }[] {
  const dirs = (process.env['PATH'] ?? '').split(':').filter((d) => d !== '' && !d.includes('node_modules'))
  const found = new Map<string, string>()
  for (const d of dirs) {
    const path = join(d, 'node')
    try {
      found.set(path, execFileSync(path, ['--version'], { encoding: 'utf8' }).trim())
    } catch { /* no node here */ }
  }
  return [...found].map(([path, version]) => ({ path, version }))
}

test('package.json\'s engines and the README say the same Node', () => {
  assert.equal(engines, '>=24')
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  assert.match(readme, /Needs Node\.js ≥ 24 \(package\.json's `engines`/)
  assert.doesNotMatch(readme, /Node\.js ≥ (1\d|2[0-3])\b/)
})

test('on a Node older than 24, every command stops at once with one line and exit 2', () => {
  const old = nodes().filter((n) => Number(/^v(\d+)/.exec(n.version)?.[1]) < 24)
  assert.ok(old.length > 0, `this test needs a Node older than 24 on the PATH (the system's); found ${JSON.stringify(nodes())}`)
  for (const { path, version } of old) {
    for (const args of [['--version'], ['serve', '--self-signed', '--listen', '127.0.0.1:0'], ['probe', 'bank-api'], ['inject']]) {
      const r = spawnSync(path, [bin, ...args], { encoding: 'utf8', input: '' })
      assert.equal(r.status, 2, `${path} ${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.stdout, '')
      assert.equal(r.stderr, `egress-mtls needs Node.js >= 24, this is ${version}\n`)
    }
  }
})

test('on Node 24 the same entry point runs the CLI from the sources (no build needed)', () => {
  const r = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/)
})
