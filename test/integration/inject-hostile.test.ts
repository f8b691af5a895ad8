// `egress-mtls inject` against hostile manifests, as a real process whose V8 heap is capped
// at 128 MiB (--max-old-space-size=128): alias bombs, 20,000-deep nesting, 20 MB of NULs, huge
// streams and documents, too many nodes in a document and quadratic traps are each refused
// with one line and exit 2, never a stack trace or an out-of-memory crash; the worst inputs
// within the limits (src/io/manifests.ts), and more than 4 MiB of ordinary manifests in
// many documents, are injected within the same heap.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { MAX_DOCUMENT_BYTES, MAX_NODES, MAX_STREAM_BYTES } from '../../src/io/manifests.ts'
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

test('20 MB of NULs on stdin: refused in the first chunk, unread beyond', async () => {
  refused(await inject(['-f', '-'], Buffer.alloc(20_000_000)), /^egress-mtls: stdin:1: binary data, not YAML or JSON \(a NUL byte\)\n$/)
  refused(await inject(['-f', '-'], Buffer.concat([Buffer.from('apiVersion: v1\nkind: ConfigMap\n'), Buffer.alloc(1000)])), /^egress-mtls: stdin:3: binary data, not YAML or JSON \(a NUL byte\)\n$/)
})

test('huge streams and documents: a file or stdin over 32 MiB, a document over 4 MiB or with too many nodes', async () => {
  const big = file('big.yaml', `a: 1\n---\n${`b: "${'x'.repeat(1024 * 1024)}"\n---\n`.repeat(MAX_STREAM_BYTES / 1024 / 1024)}`)
  refused(await inject(['-f', big]), /big\.yaml: too large: a file or stdin may be at most 32 MiB \(split it; there is no limit on how many\)/)
  refused(await inject(['-f', '-'], Buffer.alloc(MAX_STREAM_BYTES + 1, 'a: 1\n---\n')), /stdin: too large/)
  const doc = file('doc.yaml', `a: 1\n---\nb: 2\n---\nc: "${'x'.repeat(MAX_DOCUMENT_BYTES)}"\n---\nd: 3\n`)
  refused(await inject(['-f', doc]), /doc\.yaml:4: the document starting here is over 4 MiB/)
  const wide = file('wide.yaml', `a: 1\n---\nc: "${'é'.repeat(MAX_DOCUMENT_BYTES / 2)}"\n`)
  refused(await inject(['-f', wide]), /wide\.yaml:2: the document starting here is over 4 MiB/)
  refused(await inject(['-f', file('lines.yaml', `a: 1\n---\nb:\n${'- 1\n'.repeat(MAX_NODES)}`)]), new RegExp(`lines\\.yaml:2: the document starting here has more than ${MAX_NODES} YAML nodes`))
  refused(await inject(['-f', file('items.yaml', `a: [${'1,'.repeat(MAX_NODES)}1]\n`)]), new RegExp(`items\\.yaml:1: the document starting here has more than ${MAX_NODES} YAML nodes`))
})

test('more than 4 MiB in all, in many documents (a directory, -R; stdin): injected, limits per document', async () => {
  // ~1,300 Deployments and ConfigMaps per stream, 6 MiB: what kube-prometheus or three Argo CD installs are
  const stream = (n: number): string => Array.from({ length: n }, (_, i) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: web-${i}, namespace: shop }
spec:
  template:
    metadata:
      labels: { app: web-${i} }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: data-${i}, namespace: shop }
data: { blob: "${'x'.repeat(4000)}" }
`).join('---\n')
  const tree = join(dir, 'tree')
  mkdirSync(join(tree, 'sub'), { recursive: true })
  writeFileSync(join(tree, 'a.yaml'), stream(700))
  writeFileSync(join(tree, 'sub', 'b.yaml'), stream(700))
  const r = await inject(['-R', '-f', tree])
  assert.equal(r.code, 0, r.stderr.slice(0, 300))
  assert.ok(Buffer.byteLength(r.stdout) > 5.5 * 1024 * 1024, `${Buffer.byteLength(r.stdout)} bytes out`)
  assert.equal(r.stdout.match(/^ {8}egress-mtls\.io\/injected: bank-api$/gm)?.length, 1400)
  const piped = await inject(['-f', '-'], Buffer.from(stream(1400)))
  assert.equal(piped.code, 0, piped.stderr.slice(0, 300))
  assert.equal(piped.stdout.match(/^ {8}egress-mtls\.io\/injected: bank-api$/gm)?.length, 1400)
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
