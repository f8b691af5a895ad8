// `egress-mtls render` as a real process: YAML on stdout, the namespace filter, exit codes.
import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { parseAllDocuments } from 'yaml'

import { render } from '../../src/core/istio/render.ts'
import { cliProcess, type CliRun } from '../support/cli-process.ts'
import { parsedConfig } from '../support/config.ts'

const cli = (args: readonly string[], env?: NodeJS.ProcessEnv): Promise<CliRun> => cliProcess(args, { env })

const CONFIG = `
routing: virtualService
targets:
  - name: bank-api
    host: api.bank.example.com
    namespaces: [payments]
    subjectAltNames: [bank.example.com]
  - name: tax-gw
    host: gw.tax.example.org
    namespaces: [payments, billing]
    maxConnectionDuration: 30m
  - name: everywhere
    host: all.example.net
    namespaces: ["*"]
`

const dir = await mkdtemp(join(tmpdir(), 'egress-mtls-render-'))
const configFile = join(dir, 'config.yaml')
await writeFile(configFile, CONFIG)

const docs = (yaml: string): unknown[] => parseAllDocuments(yaml).map((d) => {
  assert.deepEqual(d.errors, [])
  return d.toJS() as unknown
})

test('prints every rendered object as multi-document YAML, byte-identical across runs', async () => {
  const first = await cli(['render', '--config', configFile])
  assert.equal(first.code, 0, first.stderr)
  assert.equal(first.stderr, '')
  const expected = render(parsedConfig(CONFIG))
  assert.deepEqual(docs(first.stdout), JSON.parse(JSON.stringify(expected)))
  assert.equal(expected.length, 12)
  const second = await cli(['render', '--config', configFile])
  assert.equal(second.stdout, first.stdout)
})

test('-o json: the same objects as one v1 List; -o anything else is bad usage', async () => {
  const r = await cli(['render', '-o', 'json', '--config', configFile])
  assert.equal(r.code, 0, r.stderr)
  const list = JSON.parse(r.stdout) as { kind: string, items: unknown[] }
  assert.equal(list.kind, 'List')
  assert.deepEqual(list.items, JSON.parse(JSON.stringify(render(parsedConfig(CONFIG)))))
  const yaml = await cli(['render', '--output', 'yaml', '--config', configFile])
  assert.deepEqual(docs(yaml.stdout), list.items)
  const bad = await cli(['render', '-o', 'xml', '--config', configFile])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /'xml' is invalid/)
})

test('--namespace keeps that namespace only; mesh-wide targets live in meshRootNamespace', async () => {
  const billing = await cli(['render', '--namespace', 'billing', '--config', configFile])
  assert.equal(billing.code, 0, billing.stderr)
  assert.deepEqual(docs(billing.stdout).map((o) => {
    const { kind, metadata } = o as { kind: string, metadata: { namespace: string, name: string } }
    return `${kind} ${metadata.namespace}/${metadata.name}`
  }), [
    'ServiceEntry billing/egress-mtls-tax-gw',
    'DestinationRule billing/egress-mtls-tax-gw',
    'VirtualService billing/egress-mtls-tax-gw',
  ])
  assert.equal(billing.stderr, 'egress-mtls: note: the mesh-wide target everywhere covers namespace billing with resources in the mesh root namespace istio-system (render -n istio-system)\n')
  const root = await cli(['render', '-n', 'istio-system'], { EGRESS_MTLS_CONFIG: configFile })
  assert.equal(root.code, 0, root.stderr)
  assert.equal(root.stderr, '')
  assert.deepEqual(new Set(docs(root.stdout).map((o) => (o as { metadata: { name: string } }).metadata.name)), new Set(['egress-mtls-everywhere']))
})

test('a namespace without resources: empty output, a note on stderr naming the mesh-wide targets that cover it, exit 0', async () => {
  const r = await cli(['render', '--namespace', 'nowhere', '--config', configFile])
  assert.equal(r.code, 0)
  assert.equal(r.stdout, '')
  assert.equal(r.stderr, 'egress-mtls: no resources in namespace nowhere: the mesh-wide target everywhere covers namespace nowhere with resources in the mesh root namespace istio-system (render -n istio-system)\n')
  const scoped = join(dir, 'scoped.yaml')
  await writeFile(scoped, 'targets:\n  - name: bank-api\n    host: api.bank.example.com\n    namespaces: [payments]\n')
  const none = await cli(['render', '--namespace', 'nowhere', '--config', scoped])
  assert.equal(none.stderr, 'egress-mtls: no resources in namespace nowhere\n')
})

test('bad configuration exits 2 naming the field and line; no configuration exits 2', async () => {
  const bad = join(dir, 'bad.yaml')
  await writeFile(bad, 'targets:\n  - name: x\n    host: "*.example.com"\n    namespaces: [a]\n')
  const r = await cli(['render', '--config', bad])
  assert.equal(r.code, 2)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /bad\.yaml:3: targets\[0\]\.host: /)
  const none = await cli(['render'])
  assert.equal(none.code, 2)
  assert.match(none.stderr, /EGRESS_MTLS_CONFIG/)
})

test('verifyServerName: false prints a warning on stderr and still renders, exit 0', async () => {
  const off = join(dir, 'off.yaml')
  await writeFile(off, 'targets:\n  - { name: bank-api, host: api.bank.example.com, namespaces: [payments], verifyServerName: false }\n')
  const r = await cli(['render', '--config', off])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, 'egress-mtls: warning: target bank-api: verifyServerName is false: the sidecar accepts any server certificate signed by the CA in its cacert, whatever name it carries (not only api.bank.example.com)\n')
  assert.equal(docs(r.stdout).length, 2)
})

test('YAML as kubectl and Istio read it (1.1): target names such as "on" and "y" stay strings', async () => {
  const file = join(dir, 'yaml11.yaml')
  await writeFile(file, 'targets:\n  - { name: "on", host: on.example.com, namespaces: ["y"] }\n')
  const r = await cli(['render', '--config', file])
  assert.equal(r.code, 0, r.stderr)
  const objects = parseAllDocuments(r.stdout, { version: '1.1' }).map((d) => d.toJS() as { metadata: { namespace: unknown, labels: Record<string, unknown> } })
  assert.equal(objects.length, 2)
  for (const o of objects) {
    assert.equal(o.metadata.namespace, 'y')
    assert.equal(o.metadata.labels['egress-mtls.io/target'], 'on')
  }
})
