// `egress-mtls inject` against hostile manifests, as a real process whose V8 heap is capped
// at 128 MiB (--max-old-space-size=128): alias bombs, 20,000-deep nesting, 20 MB of NULs, huge
// inputs, too many nodes and quadratic traps are each refused with one line and exit 2,
// never a stack trace or an out-of-memory crash; the largest inputs within the limits
// (src/io/manifests.ts) are injected within the same heap.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { MAX_INPUT_BYTES, MAX_NODES } from '../../src/io/manifests.ts'
import { cliProcess, type CliRun } from '../support/cli-process.ts'

const HEAP_MIB = 128
const dir = mkdtempSync(join(tmpdir(), 'egress-mtls-hostile-'))
const config = join(dir, 'config.yaml')
writeFileSync(config, 'injection: cluster\ntargets:\n  - name: bank-api\n    host: api.bank.example.com\n    namespaces: ["*"]\n')

const inject = (args: readonly string[], stdin?: Buffer): Promise<CliRun> =>
  cliProcess(['inject', '--config', config, ...args], { stdin, nodeOptions: [`--max-old-space-size=${HEAP_MIB}`] })

const file = (name: string, text: string): string => { writeFileSync(join(dir, name), text); return join(dir, name) }

function refused (r: CliRun, message: RegExp): void {
  assert.equal(r.code, 2, r.stderr)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /^egress-mtls: [^\n]+\n$/, r.stderr)
  assert.doesNotMatch(r.stderr, /\n\s+at /)
  assert.match(r.stderr, message)
}

test('an alias bomb (billion laughs): refused at 100 alias expansions', async () => {
  const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
  for (let i = 1; i < 10; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`)
  refused(await inject(['-f', file('bomb.yaml', `${levels.join('\n')}\n`)]), /bomb\.yaml:1: more than 100 alias expansions \(an alias bomb\?\)/)
})

test('20,000-deep nesting, flow, block and JSON: refused before the parser recurses', async () => {
  refused(await inject(['-f', file('flow.yaml', `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`)]), /flow\.yaml:1: nested more than 256 levels deep/)
  refused(await inject(['-f', file('block.yaml', `a:\n  ${'- '.repeat(20_000)}x\n`)]), /block\.yaml:2: nested more than 256 levels deep/)
  refused(await inject(['-f', '-'], Buffer.from(`${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`)), /stdin:1: nested more than 256 levels deep/)
})

test('20 MB of NULs on stdin: refused after 4 MiB, unread beyond', async () => {
  refused(await inject(['-f', '-'], Buffer.alloc(20_000_000)), /^egress-mtls: stdin: too large: the manifests given together may be at most 4 MiB\n$/)
  refused(await inject(['-f', '-'], Buffer.concat([Buffer.from('apiVersion: v1\nkind: ConfigMap\n'), Buffer.alloc(1000)])), /^egress-mtls: stdin:3: binary data, not YAML or JSON \(a NUL byte\)\n$/)
})

test('huge inputs: over 4 MiB in all (one file or several), or too many nodes', async () => {
  const big = file('big.yaml', `a: "${'x'.repeat(MAX_INPUT_BYTES)}"\n`)
  refused(await inject(['-f', big]), /big\.yaml: too large/)
  const half = file('half.yaml', `a: "${'x'.repeat(MAX_INPUT_BYTES / 2)}"\n`)
  refused(await inject(['-f', half, '-f', half]), /half\.yaml: too large/)
  refused(await inject(['-f', file('docs.yaml', '---\n'.repeat(MAX_NODES + 1))]), new RegExp(`docs\\.yaml:\\d+: more than ${MAX_NODES} YAML nodes`))
  refused(await inject(['-f', file('items.yaml', `a: [${'1,'.repeat(MAX_NODES)}1]\n`)]), new RegExp(`items\\.yaml:1: more than ${MAX_NODES} YAML nodes`))
})

test('the worst shapes within the limits are injected within the capped heap', async () => {
  // a mapping of ~199,000 keys (yaml's own duplicate check would take minutes), then as many
  // empty documents; a Deployment at the end of each is injected
  const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec:\n  template:\n    metadata:\n      labels: { app: web }\n'
  const keys = file('keys.yaml', `${Array.from({ length: MAX_NODES - 1000 }, (_, i) => `k${i}: 1\n`).join('')}---\n${deployment}`)
  const r = await inject(['-f', keys])
  assert.equal(r.code, 0, `keys: ${r.stderr.slice(0, 200)}`)
  assert.match(r.stdout, /labels: \{ app: web, egress-mtls\.io\/bank-api: "true" \}/)
  const docs = await inject(['-f', file('empty-docs.yaml', `${'---\n'.repeat(MAX_NODES - 1000)}---\n${deployment}`)])
  assert.equal(docs.code, 0, `empty documents: ${docs.stderr.slice(0, 200)}`)
  assert.match(docs.stdout, /egress-mtls\.io\/injected: bank-api/)
  // a repeated key is still found, in one pass
  refused(await inject(['-f', file('dup.yaml', `${Array.from({ length: 50_000 }, (_, i) => `k${i}: 1\n`).join('')}k7: 2\n`)]), /dup\.yaml:50001: Map keys must be unique: k7/)
})
