// `--release NAME`: the commands read the configuration of an installed Helm release from
// its ConfigMap, as the chart renders it (`helm template`, the ConfigMap applied to a real
// kube-apiserver), so a Helm user needs no configuration file; provision and doctor take
// the release name as their --instance, as the chart's own provision Job does.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

import type { KubeConfig } from '@kubernetes/client-node'
import { parseAllDocuments, stringify } from 'yaml'

import { HELM_ENV } from '../support/binaries.ts'
import { KUBECONFIG_ENV, kubeJson, loadKubeConfig } from '../support/kube.ts'
import { type FreshNamespace, freshNamespace } from '../support/namespaces.ts'
import { repoRoot } from '../support/repo.ts'
import { run } from '../support/run.ts'
import { type CliResult, runCli } from '../support/run-cli.ts'

const release = 'shop-mtls'
const kubeconfig = process.env[KUBECONFIG_ENV] ?? ''

describe('--release', () => {
  let kc: KubeConfig
  let work = ''
  const namespaces: FreshNamespace[] = []
  let releaseNs = ''
  let payments = ''
  let meshRoot = ''
  let configFile = ''

  const cli = (...args: string[]): Promise<CliResult> => runCli([...args, '--kubeconfig', kubeconfig])

  before(async () => {
    kc = loadKubeConfig()
    work = await mkdtemp(join(tmpdir(), 'egress-mtls-release-'))
    for (const prefix of ['release', 'release-payments', 'release-root']) namespaces.push(await freshNamespace(kc, prefix))
    ;[releaseNs, payments, meshRoot] = namespaces.map((n) => n.name) as [string, string, string]
    const config = { meshRootNamespace: meshRoot, targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: [payments] }] }
    configFile = join(work, 'config.yaml')
    await writeFile(configFile, stringify(config))
    const values = join(work, 'values.yaml')
    await writeFile(values, stringify({ config }))
    const helm = process.env[HELM_ENV]
    assert.ok(helm !== undefined && helm !== '', `${HELM_ENV} is not set: run under --test-global-setup=test/e2e/global-setup.ts`)
    const r = await run(helm, ['template', release, join(repoRoot, 'charts', 'egress-mtls'), '--namespace', releaseNs, '-f', values], { cwd: repoRoot })
    assert.equal(r.code, 0, r.stderr)
    const cms = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind?: string } | null).filter((o) => o?.kind === 'ConfigMap')
    assert.equal(cms.length, 1)
    await kubeJson(kc, { method: 'POST', path: `/api/v1/namespaces/${releaseNs}/configmaps`, body: cms[0] })
  })

  after(async () => {
    await cli('provision', '--prune-all', '--instance', release)
    for (const ns of namespaces) await ns.cleanup()
    if (work !== '') await rm(work, { recursive: true, force: true })
  })

  test('render --release prints what render --config prints for the same configuration', async () => {
    const fromRelease = await cli('render', '--release', release, '--release-namespace', releaseNs)
    assert.equal(fromRelease.code, 0, fromRelease.stderr)
    const fromFile = await runCli(['render', '--config', configFile])
    assert.equal(fromRelease.stdout, fromFile.stdout)
    assert.match(fromRelease.stdout, /name: egress-mtls-bank-api/)
  })

  test('provision --release applies the objects under the release as instance; doctor --release expects them', async () => {
    const p = await cli('provision', '--release', release, '--release-namespace', releaseNs)
    assert.equal(p.code, 0, p.stderr)
    assert.match(p.stdout, /^provisioned: 2 created/m)
    const owned = await kubeJson(kc, { path: `/apis/networking.istio.io/v1/namespaces/${payments}/destinationrules?labelSelector=egress-mtls.io/instance=${release}` }) as { items: unknown[] }
    assert.equal(owned.items.length, 1)
    const d = await cli('doctor', '--release', release, '--release-namespace', releaseNs, '-n', payments)
    assert.match(d.stdout, /^ok .*DestinationRule/m, d.stdout)
    assert.doesNotMatch(d.stdout, /^fail .*(DestinationRule|ServiceEntry)/m, d.stdout)
    assert.match(d.stdout, /^fail .*bank-api-mtls/m, 'the Secret is missing: doctor read the release\'s target')
  })

  test('probe --release finds the release\'s target and reads its Secret in the namespace', async () => {
    const r = await cli('probe', '--release', release, '--release-namespace', releaseNs, '-n', payments, 'bank-api')
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stdout, new RegExp(`Secret ${payments}/bank-api-mtls`), r.stdout)
    const unknown = await cli('probe', '--release', release, '--release-namespace', releaseNs, 'tax-gw')
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /unknown target "tax-gw" \(targets: bank-api\)/)
  })

  test('no such release, or --release with --config: one line, exit 2', async () => {
    const none = await cli('render', '--release', 'nope', '--release-namespace', releaseNs)
    assert.equal(none.code, 2)
    assert.equal(none.stderr, `egress-mtls: no egress-mtls release "nope" in namespace ${releaseNs}: no ConfigMap labelled app.kubernetes.io/instance=nope,app.kubernetes.io/component=config,app.kubernetes.io/part-of=egress-mtls (helm list -n ${releaseNs}; --release-namespace NS names the release's namespace)\n`)
    const both = await cli('render', '--release', release, '--config', configFile)
    assert.equal(both.code, 2)
    assert.match(both.stderr, /--config and --release exclude each other/)
  })
})
