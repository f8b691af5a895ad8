// `egress-mtls doctor` without a cluster: over manifest files (-f, -R) and client certificate
// files (--cert/--key/--cacert), what can be known offline, in the same findings as in the
// cluster. The CLI runs with no kubeconfig at all: a read of the cluster would fail.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { clientMaterial } from '../support/pki.ts'
import { runCli } from '../support/run-cli.ts'

const dir = mkdtempSync(join(tmpdir(), 'egress-mtls-doctor-offline-'))
const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p }
const config = file('config.yaml', 'targets:\n  - name: bank-api\n    host: api.bank.example.com\n    namespaces: [payments]\n')
const NO_CLUSTER = { KUBECONFIG: join(dir, 'no-such-kubeconfig'), HOME: dir }
const doctor = (...args: string[]): ReturnType<typeof runCli> => runCli(['doctor', '--config', config, ...args], NO_CLUSTER)
const lines = (stdout: string): string[] => stdout.split('\n').filter((l) => l !== '')
const dated = (l: string): string => l.replace(/\d+ days \(\d{4}-\d\d-\d\d\)/, 'N days (DATE)')

const deployment = (name: string, ns: string, label: string): string =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: ${name}, namespace: ${ns}, labels: { egress-mtls.io/inject: "${label}" } }\n` +
  `spec:\n  template:\n    metadata: { labels: { app: ${name} } }\n`

test('manifests: workloads as the webhook will see them, the Namespace\'s labels, the Istio objects committed from render', async () => {
  const k8s = join(dir, 'k8s')
  mkdirSync(join(k8s, 'istio'), { recursive: true })
  writeFileSync(join(k8s, 'payments.yaml'), [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: payments, labels: { istio-injection: enabled } }\n',
    deployment('web', 'payments', 'true'),
    deployment('legacy', 'payments', 'yes'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings, namespace: payments }\n',
  ].join('---\n'))
  const rendered = await runCli(['render', '--config', config])
  // the committed DestinationRule lost its server-name check
  writeFileSync(join(k8s, 'istio', 'bank.yaml'), rendered.stdout.replace(/\n {10}subjectAltNames:\n {12}- api\.bank\.example\.com/, ''))
  const flat = await doctor('-f', k8s)
  assert.equal(flat.code, 1, flat.stderr)
  assert.ok(!flat.stdout.includes('ServiceEntry'), 'without -R the subdirectory is not read')
  const r = await doctor('-R', '-f', k8s)
  assert.equal(r.code, 1, r.stderr)
  assert.deepEqual(lines(r.stdout), [
    'ok deployment/web: the webhook injects it when it is applied, with bank-api (egress-mtls inject shows how)',
    'fail deployment/legacy: label egress-mtls.io/inject is "yes", neither "true" (opt in) nor "false" (opt out): nothing injected',
    'fail deployment/legacy: the webhook never sees it: in label mode its objectSelector matches egress-mtls.io/inject: "true" on the Deployment itself only, so kubectl shows no warning; label the Deployment egress-mtls.io/inject=true',
    'ok Namespace payments: 2 workloads scanned, 2 asking for egress-mtls, 1 to be injected or injected as the webhook makes it',
    'ok Namespace payments: Istio sidecar injection enabled (istio-injection=enabled)',
    'ok ServiceEntry payments/egress-mtls-bank-api: as rendered',
    'fail DestinationRule payments/egress-mtls-bank-api: differs from what render produces at spec.trafficPolicy.portLevelSettings[0].tls.subjectAltNames; commit what egress-mtls render prints',
    'doctor: 4 ok, 0 warn, 3 fail',
  ])
  // injected (inject's output committed), with a workload in a namespace the manifests do not hold
  const injected = await runCli(['inject', '--config', config, '-f', file('web.yaml', `${deployment('web', 'payments', 'true')}---\n${deployment('api', 'shop', 'true')}`)])
  const again = await doctor('-f', file('injected.yaml', injected.stdout), '-o', 'json')
  const report = JSON.parse(again.stdout) as { offline: boolean, findings: { level: string, subject: string, message: string }[] }
  assert.equal(report.offline, true)
  assert.deepEqual(report.findings.map((f) => `${f.level} ${f.subject}: ${f.message}`), [
    'warn Namespace payments: not in the manifests: its labels (egress-mtls.io/injection, istio-injection) are not checked offline',
    'ok deployment/web: injected with bank-api (pod template as the webhook makes it)',
    'ok deployment/web: presents to api.bank.example.com the client certificate of target bank-api (Secret payments/bank-api-mtls)',
    'ok Namespace payments: 1 workload scanned, 1 asking for egress-mtls, 1 to be injected or injected as the webhook makes it',
    'warn Namespace shop: not in the manifests: its labels (egress-mtls.io/injection, istio-injection) are not checked offline',
    'fail deployment/api: no target is available in namespace shop: nothing injected',
    'ok Namespace shop: 1 workload scanned, 1 asking for egress-mtls, 0 to be injected or injected as the webhook makes them',
    'ok manifests: no Istio objects of egress-mtls among them: provision applies them in the cluster (render prints them)',
  ])
})

test('certificate files: the client material checked as doctor checks a Secret', async () => {
  const good = await clientMaterial()
  const other = await clientMaterial()
  const files = (m: { cert: string, key: string, cacert: string }, tag: string): string[] =>
    ['--cert', file(`${tag}.crt`, m.cert), '--key', file(`${tag}.key`, m.key), '--cacert', file(`${tag}-ca.crt`, m.cacert)]
  const ok = await doctor(...files(good, 'good'))
  assert.equal(ok.code, 0, ok.stdout + ok.stderr)
  assert.ok(lines(ok.stdout).every((l) => /^(ok files|doctor):/.test(l)), ok.stdout)
  assert.match(ok.stdout, /^ok files: .*expires in \d+ days/m)
  const mismatched = await doctor(...files({ ...good, key: other.key }, 'mismatched'))
  assert.equal(mismatched.code, 1)
  assert.match(mismatched.stdout, /^fail files: .*(key|match)/m)
  assert.ok(lines(mismatched.stdout).map(dated).length > 1)
})

test('bad usage: one line, exit 2', async () => {
  const half = await doctor('--cert', file('only.crt', 'x'))
  assert.equal(half.code, 2)
  assert.equal(half.stderr, 'egress-mtls: --cert, --key and --cacert go together: give all three\n')
  const named = await doctor('-f', file('one.yaml', deployment('web', 'payments', 'true')), 'deployment/web')
  assert.equal(named.code, 2)
  assert.match(named.stderr, /doctor WORKLOAD reads the cluster/)
})
