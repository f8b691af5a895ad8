import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { cliProcess as cli } from '../support/cli-process.ts'

test('--help lists every command and exits 0', async () => {
  const r = await cli(['--help'])
  assert.equal(r.code, 0)
  for (const c of ['serve', 'inject', 'render', 'provision', 'certs', 'doctor']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'))
})

test('bad usage exits 2', async () => {
  assert.equal((await cli(['bogus'])).code, 2)
  assert.equal((await cli(['certs', '--namespace', 'x'])).code, 2)
})

test('no configuration is a usage error (exit 2) that says how to give one', async () => {
  const r = await cli(['render'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /pass --config FILE or set EGRESS_MTLS_CONFIG/)
})

test('an invalid configuration exits 2 naming the file, line and field; EGRESS_MTLS_CONFIG is read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-mtls-cli-'))
  const file = join(dir, 'bad.yaml')
  writeFileSync(file, 'targets:\n  - name: a\n    host: a.example.com\n    namespaces: [x]\n    port: "443"\n')
  for (const r of [await cli(['render', '--config', file]), await cli(['render'], { env: { EGRESS_MTLS_CONFIG: file } })]) {
    assert.equal(r.code, 2)
    assert.match(r.stderr, new RegExp(`${file}:5: targets\\[0\\]\\.port: must be integer`))
  }
  const missing = await cli(['render', '--config', join(dir, 'nope.yaml')])
  assert.equal(missing.code, 2)
  assert.equal(missing.stderr, `egress-mtls: invalid configuration: ${join(dir, 'nope.yaml')}: cannot be read: no such file or directory\n`)
})
