// What `inject` says when it does more, or less, than edit a document in place (through the
// CLI in-process): a document printed anew (YAML anchors), a removed apiVersion, and how
// the edited text keeps the input's line endings and JSON indentation.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { runCli } from '../support/run-cli.ts'

const dir = mkdtempSync(join(tmpdir(), 'egress-mtls-notices-'))
const config = join(dir, 'config.yaml')
writeFileSync(config, 'targets:\n  - name: bank-api\n    host: api.bank.example.com\n    namespaces: [payments]\n')
const inject = (stdin: string, ...args: string[]): ReturnType<typeof runCli> => runCli(['inject', '--config', config, '-n', 'payments', '-f', '-', ...args], {}, stdin)

const deployment = (apiVersion: string, kind = 'Deployment', template = 'spec:\n  template:\n    metadata:\n      labels: { app: web }\n'): string =>
  `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: web\n  labels: { egress-mtls.io/inject: "true" }\n${template}`

test('YAML anchors: the document is printed anew from its values, with a warning saying what is lost and what to do', async () => {
  const text = `# Source: shop/templates/web.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: &labels
    app: web
    egress-mtls.io/inject: "true"
spec:
  template:
    metadata:
      labels: *labels
`
  const r = await inject(text)
  assert.equal(r.code, 0, r.stderr)
  assert.doesNotMatch(r.stdout, /# Source:/)
  assert.match(r.stdout, /egress-mtls\.io\/injected: bank-api/)
  assert.equal(r.stderr, 'egress-mtls: warning: Deployment/web: the document is printed anew from its values (it uses YAML anchors and aliases, which cannot be edited in place): ' +
    'its comments (# Source: lines too), quoting and layout are lost; expand the aliases to keep them\n')
  // an anchor the edit does not touch: edited in place, no warning
  const untouched = await inject(`# kept\n${deployment('apps/v1', 'Deployment', 'x: &x 1\ny: *x\nspec:\n  template:\n    metadata:\n      labels: { app: web }\n')}`)
  assert.equal(untouched.stderr, '')
  assert.match(untouched.stdout, /^# kept\n/)
})

test('removed apiVersions: injected as their successor where egress-mtls reads them, with a warning naming it', async () => {
  const cases: [string, string, string, boolean][] = [
    ['batch/v1beta1', 'CronJob', 'batch/v1 (injected as that)', true],
    ['batch/v2alpha1', 'CronJob', 'batch/v1 (injected as that)', true],
    ['apps/v1beta1', 'Deployment', 'apps/v1 (injected as that)', true],
    ['apps/v1beta2', 'DaemonSet', 'apps/v1 (injected as that)', true],
    ['extensions/v1beta1', 'Deployment', 'apps/v1 (not injected: egress-mtls reads it as an unknown kind)', false],
  ]
  const cronTemplate = 'spec:\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          labels: { app: web }\n'
  for (const [apiVersion, kind, use, injected] of cases) {
    const r = await inject(deployment(apiVersion, kind, kind === 'CronJob' ? cronTemplate : undefined))
    assert.equal(r.code, 0, r.stderr)
    const removedIn = apiVersion.startsWith('batch/') ? (apiVersion === 'batch/v1beta1' ? '1.25' : '1.21') : '1.16'
    assert.equal(r.stderr, `egress-mtls: warning: ${kind}/web: apiVersion ${apiVersion} was removed in Kubernetes ${removedIn}: the API server refuses this ${kind}; change it to ${use}\n`, apiVersion)
    assert.equal(r.stdout.includes('egress-mtls.io/injected: bank-api'), injected, apiVersion)
  }
  const current = await inject(deployment('apps/v1'))
  assert.equal(current.stderr, '')
})

test('CRLF in gives CRLF out: every line of an injected document ends with CRLF', async () => {
  const text = `# a Windows checkout\r\n${deployment('apps/v1').replace(/\n/g, '\r\n')}---\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata: { name: c }\r\n`
  const r = await inject(text)
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /egress-mtls\.io\/injected: bank-api\r\n/)
  assert.deepEqual(r.stdout.split('\r\n').filter((l) => l.includes('\n')), [], 'a line ending in a lone LF')
  // LF in stays LF
  const lf = await inject(deployment('apps/v1'))
  assert.ok(!lf.stdout.includes('\r'))
})

test('JSON: a new object is indented as the file is (4 spaces, tabs), not with 2', async () => {
  const object = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels: { 'egress-mtls.io/inject': 'true' } }, spec: { template: { metadata: { labels: { app: 'web' } } } } }
  for (const indent of ['    ', '\t', '  ']) {
    const r = await inject(`${JSON.stringify(object, null, indent)}\n`)
    assert.equal(r.code, 0, r.stderr)
    const value = JSON.parse(r.stdout) as { spec: { template: { metadata: { annotations: Record<string, string> } } } }
    assert.equal(value.spec.template.metadata.annotations['egress-mtls.io/injected'], 'bank-api')
    assert.equal(r.stdout, `${JSON.stringify(value, null, indent)}\n`, JSON.stringify(indent))
  }
})
