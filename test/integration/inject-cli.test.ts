// `egress-mtls inject` as a real process: manifests from a file or stdin, YAML out,
// warnings on stderr, exit 1 on a denial, exit 2 on unreadable input.
import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { parseAllDocuments } from 'yaml'

import { cliProcess, type CliRun } from '../support/cli-process.ts'
import { TWO_TARGETS_CONFIG } from '../support/config.ts'

const cli = (args: readonly string[], stdin?: string): Promise<CliRun> => cliProcess(args, { stdin })

const CONFIG = TWO_TARGETS_CONFIG

const MANIFESTS = `# checkout: no namespace, --namespace says payments
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  labels: { app: checkout, egress-mtls.io/inject: "true" }
spec:
  selector: { matchLabels: { app: checkout } }
  template:
    metadata:
      labels: { app: checkout }
      annotations:
        sidecar.istio.io/userVolume: '[{"name":"bootstrap","configMap":{"name":"envoy-bootstrap"}}]'
        note: "yes"
    spec:
      containers: [{ name: app, image: "checkout:1.0" }]
---
apiVersion: v1
kind: Service
metadata: { name: checkout, namespace: payments }
spec:
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: billing
  labels: { egress-mtls.io/inject: "true" }
spec:
  schedule: "15 2 * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          annotations:
            sidecar.istio.io/userVolumeMount: '{"scratch":{"mountPath":"/scratch"}}'
        spec:
          restartPolicy: OnFailure
          containers: [{ name: job, image: "nightly:2" }]
---
apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: StatefulSet
    metadata: { name: ledger, namespace: payments, labels: { egress-mtls.io/inject: "yes" } }
    spec:
      serviceName: ledger
      selector: { matchLabels: { app: ledger } }
      template:
        metadata: { labels: { app: ledger } }
        spec: { containers: [{ name: app, image: "ledger:3" }] }
---
`

async function files (manifests: string): Promise<{ config: string, manifests: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'egress-mtls-inject-'))
  await writeFile(join(dir, 'config.yaml'), CONFIG)
  await writeFile(join(dir, 'manifests.yaml'), manifests)
  return { config: join(dir, 'config.yaml'), manifests: join(dir, 'manifests.yaml') }
}

const docs = (yaml: string): unknown[] => parseAllDocuments(yaml).map((d) => d.toJS() as unknown).filter((v) => v !== null)
const at = (value: unknown, ...path: string[]): unknown => path.reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], value)

test('a multi-document file: workloads mutated, other kinds and List items handled, warnings on stderr', async () => {
  const f = await files(MANIFESTS)
  const r = await cli(['inject', '-f', f.manifests, '--namespace', 'payments', '--config', f.config])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, 'egress-mtls: warning: StatefulSet/ledger: label egress-mtls.io/inject is "yes", neither "true" (opt in) nor "false" (opt out): nothing injected\n')
  const [deployment, service, cronJob, list, ...rest] = docs(r.stdout)
  assert.equal(rest.length, 0)

  assert.deepEqual(at(deployment, 'spec', 'template', 'metadata'), {
    labels: { app: 'checkout', 'egress-mtls.io/bank-api': 'true', 'egress-mtls.io/tax-gw': 'true' },
    annotations: {
      'sidecar.istio.io/userVolume': '[{"name":"bootstrap","configMap":{"name":"envoy-bootstrap"}},' +
        '{"name":"egress-mtls-bank-api","secret":{"secretName":"bank-api-mtls","items":[{"key":"cert","path":"cert"},{"key":"key","path":"key"},{"key":"cacert","path":"cacert"}]}},' +
        '{"name":"egress-mtls-tax-gw","secret":{"secretName":"tax-gw-client","items":[{"key":"tls.crt","path":"cert"},{"key":"tls.key","path":"key"},{"key":"ca.crt","path":"cacert"}]}}]',
      'sidecar.istio.io/userVolumeMount': '{"egress-mtls-bank-api":{"mountPath":"/etc/egress-mtls/bank-api","readOnly":true},"egress-mtls-tax-gw":{"mountPath":"/etc/egress-mtls/tax-gw","readOnly":true}}',
      'egress-mtls.io/injected': 'bank-api,tax-gw',
      note: 'yes',
    },
  })
  // The workload's own metadata is untouched.
  assert.deepEqual(at(deployment, 'metadata'), { name: 'checkout', labels: { app: 'checkout', 'egress-mtls.io/inject': 'true' } })
  assert.deepEqual(service, docs(MANIFESTS)[1])
  // billing: only the mesh-wide target; the pod template is under jobTemplate.
  assert.deepEqual(at(cronJob, 'spec', 'jobTemplate', 'spec', 'template', 'metadata'), {
    annotations: {
      'sidecar.istio.io/userVolumeMount': '{"scratch":{"mountPath":"/scratch"},"egress-mtls-tax-gw":{"mountPath":"/etc/egress-mtls/tax-gw","readOnly":true}}',
      'sidecar.istio.io/userVolume': '{"egress-mtls-tax-gw":{"secret":{"secretName":"tax-gw-client","items":[{"key":"tls.crt","path":"cert"},{"key":"tls.key","path":"key"},{"key":"ca.crt","path":"cacert"}]}}}',
      'egress-mtls.io/injected': 'tax-gw',
    },
    labels: { 'egress-mtls.io/tax-gw': 'true' },
  })
  assert.deepEqual(list, docs(MANIFESTS)[3])
  // Strings YAML 1.1 reads as booleans stay strings for kubectl.
  assert.match(r.stdout, /note: "yes"/)

  // Its own output needs nothing more: the same bytes again.
  await writeFile(f.manifests, r.stdout)
  const again = await cli(['inject', '-f', f.manifests, '--namespace', 'payments', '--config', f.config])
  assert.equal(again.code, 0, again.stderr)
  assert.equal(again.stdout, r.stdout)
})

test('JSON in gives JSON out, edited in place; namespace "default" when none is given; -o yaml converts', async () => {
  const f = await files('')
  const deployment = {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', labels: { 'egress-mtls.io/inject': 'true' } },
    spec: { template: { spec: { containers: [{ name: 'web', image: 'web:1' }] } } },
  }
  const pretty = `${JSON.stringify(deployment, null, 2)}\n`
  const r = await cli(['inject', '-f', '-', '--config', f.config], pretty)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '')
  const out = JSON.parse(r.stdout) as unknown
  assert.deepEqual(at(out, 'spec', 'template', 'metadata', 'labels'), { 'egress-mtls.io/tax-gw': 'true' })
  assert.equal(at(out, 'spec', 'template', 'metadata', 'annotations', 'egress-mtls.io/injected'), 'tax-gw')
  // only lines added: every input line is still there, in order
  const added = r.stdout.split('\n')
  let i = 0
  for (const line of pretty.split('\n')) {
    while (i < added.length && added[i] !== line && added[i] !== `${line},`) i++
    assert.ok(i < added.length, `input line lost: ${line}`)
  }
  // stdin is also the default (not a terminal here); compact JSON stays compact
  const implicit = await cli(['inject', '--config', f.config], JSON.stringify(deployment))
  assert.deepEqual(JSON.parse(implicit.stdout), out)
  assert.equal(implicit.stdout.trim().split('\n').length, 1)
  // idempotent: its own output comes back byte for byte
  const again = await cli(['inject', '--config', f.config], r.stdout)
  assert.equal(again.stdout, r.stdout)
  const yaml = await cli(['inject', '-o', 'yaml', '--config', f.config], pretty)
  assert.deepEqual(docs(yaml.stdout), [out])
})

test('a denial prints the reason and no manifests, exit 1', async () => {
  const f = await files(`${MANIFESTS}---
apiVersion: apps/v1
kind: Deployment
metadata: { name: broken, namespace: payments, labels: { egress-mtls.io/inject: "true" } }
spec:
  template:
    metadata:
      annotations:
        sidecar.istio.io/userVolumeMount: '{"egress-mtls-bank-api":{"mountPath":"/mine"}}'
    spec: { containers: [{ name: app, image: "x:1" }] }
`)
  const r = await cli(['inject', '-f', f.manifests, '--config', f.config])
  assert.equal(r.code, 1)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /^egress-mtls: Deployment\/broken: denied: pod template annotation sidecar\.istio\.io\/userVolumeMount already has an entry "egress-mtls-bank-api" that is not the one egress-mtls writes for target bank-api/m)
})

test('unreadable input: exit 2, naming the file and the line', async () => {
  const f = await files('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n    bad: indent\n')
  const r = await cli(['inject', '-f', f.manifests, '--config', f.config])
  assert.equal(r.code, 2)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, new RegExp(`^egress-mtls: ${f.manifests.replaceAll('.', '\\.')}:4: Nested mappings are not allowed`))

  const missing = await cli(['inject', '-f', `${f.manifests}.nope`, '--config', f.config])
  assert.equal(missing.code, 2)
  assert.equal(missing.stderr, `egress-mtls: ${f.manifests}.nope: cannot read: no such file or directory\n`)

  const noConfig = await cli(['inject', '-f', f.manifests])
  assert.equal(noConfig.code, 2)
  assert.match(noConfig.stderr, /no configuration/)
})

test('-f repeated, directories (-R for subdirectories): inputs in order, joined by ---; -o json gives one List', async () => {
  const f = await files('')
  const dir = await mkdtemp(join(tmpdir(), 'egress-mtls-inject-dir-'))
  const { mkdir } = await import('node:fs/promises')
  await mkdir(join(dir, 'sub'))
  await writeFile(join(dir, 'a.yaml'), '# a\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }') // no newline at the end
  await writeFile(join(dir, 'b.json'), '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}\n')
  await writeFile(join(dir, 'README.md'), 'not a manifest\n')
  await writeFile(join(dir, 'sub', 'c.yml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\n')
  const flat = await cli(['inject', '--config', f.config, '-f', dir])
  assert.equal(flat.code, 0, flat.stderr)
  assert.equal(flat.stdout, '# a\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n')
  const deep = await cli(['inject', '--config', f.config, '-R', '-f', dir, '-f', join(dir, 'a.yaml')])
  assert.deepEqual(docs(deep.stdout).map((d) => at(d, 'metadata', 'name')), ['a', 'b', 'c', 'a'])
  const json = await cli(['inject', '--config', f.config, '-R', '-f', dir, '-o', 'json'])
  const list = JSON.parse(json.stdout) as { kind: string, items: unknown[] }
  assert.equal(list.kind, 'List')
  assert.deepEqual(list.items.map((d) => at(d, 'metadata', 'name')), ['a', 'b', 'c'])
})
