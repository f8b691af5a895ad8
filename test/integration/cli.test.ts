import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

const main = new URL('../../src/cli/main.ts', import.meta.url).pathname

function cli (args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env: { ...process.env, EGRESS_MTLS_CONFIG: '', ...env } })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

test('--help lists every command and exits 0', () => {
  const r = cli(['--help'])
  assert.equal(r.code, 0)
  for (const c of ['serve', 'inject', 'render', 'provision', 'certs', 'doctor']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'))
})

test('bad usage exits 2', () => {
  assert.equal(cli(['bogus']).code, 2)
  assert.equal(cli(['certs', '--namespace', 'x']).code, 2)
})

test('no configuration is a usage error (exit 2) that says how to give one', () => {
  const r = cli(['render'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /pass --config FILE or set EGRESS_MTLS_CONFIG/)
})

test('an invalid configuration exits 2 naming the file, line and field; EGRESS_MTLS_CONFIG is read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-mtls-cli-'))
  const file = join(dir, 'bad.yaml')
  writeFileSync(file, 'targets:\n  - name: a\n    host: a.example.com\n    namespaces: [x]\n    port: "443"\n')
  for (const r of [cli(['render', '--config', file]), cli(['render'], { EGRESS_MTLS_CONFIG: file })]) {
    assert.equal(r.code, 2)
    assert.match(r.stderr, new RegExp(`${file}:5: targets\\[0\\]\\.port: must be integer`))
  }
  const missing = cli(['render', '--config', join(dir, 'nope.yaml')])
  assert.equal(missing.code, 2)
  assert.equal(missing.stderr, `egress-mtls: invalid configuration: ${join(dir, 'nope.yaml')}: cannot be read: no such file or directory\n`)
})
