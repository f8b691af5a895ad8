// The Argo CD recipes of README.md ("GitOps") and the chart's README ("Argo CD"), taken
// from the READMEs themselves and run as Argo CD runs them: each jqPathExpression compiled
// by gojq as del(EXPRESSION) (scripts/argocd-jq, a copy of Argo CD's normalizer step).
// On workloads the real `inject` mutated, the normalized object must equal the normalized
// original: Argo CD then sees no drift. And on the chart's MutatingWebhookConfiguration, a
// caBundle set in the cluster must not count as drift.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { after, before, describe, test } from 'node:test'

import { parse, parseAllDocuments, stringify } from 'yaml'

import { HELM_ENV } from '../support/binaries.ts'
import { repoRoot } from '../support/repo.ts'
import { run } from '../support/run.ts'
import { runCli } from '../support/run-cli.ts'

interface IgnoreDifference { group: string, kind: string, jqPathExpressions: string[] }
interface Obj { apiVersion: string, kind: string, metadata: { name: string }, [k: string]: unknown }

/** The ignoreDifferences of the ```yaml block of `file` that follows `heading`. */
function recipe (file: string, heading: string): { ignoreDifferences: IgnoreDifference[], syncOptions: string[] } {
  const text = readFileSync(join(repoRoot, file), 'utf8')
  const at = text.indexOf(heading)
  assert.ok(at >= 0, `${file} has no ${heading}`)
  const block = /^( *)```yaml\n([\s\S]*?)^\1```/m.exec(text.slice(at))
  assert.ok(block !== null, `${file}: no yaml block after ${heading}`)
  const indent = block[1] ?? ''
  const yaml = (block[2] ?? '').split('\n').map((l) => l.startsWith(indent) ? l.slice(indent.length) : l).join('\n')
  const doc = parse(yaml) as { spec: { ignoreDifferences: IgnoreDifference[], syncPolicy?: { syncOptions?: string[] } } }
  return { ignoreDifferences: doc.spec.ignoreDifferences, syncOptions: doc.spec.syncPolicy?.syncOptions ?? [] }
}

/** Argo CD's glob match of group and kind ("*" matches anything). */
const glob = (pattern: string, value: string): boolean => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(value)
const groupOf = (apiVersion: string): string => apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : ''

function findGo (): string {
  const candidates = [process.env['GO'], ...(process.env['PATH'] ?? '').split(delimiter).map((d) => join(d, 'go')), '/usr/local/go/bin/go']
  const go = candidates.find((c) => c !== undefined && c !== '' && existsSync(c))
  assert.ok(go !== undefined, 'Go is needed (as for the rest of the end-to-end tier): install Go >= 1.26 or set GO')
  return go
}

describe('Argo CD recipes', () => {
  let work = ''
  let argocdJq = ''

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'egress-mtls-gitops-'))
    argocdJq = join(work, 'argocd-jq')
    const built = await run(findGo(), ['build', '-o', argocdJq, '.'], { cwd: join(repoRoot, 'scripts', 'argocd-jq'), env: { ...process.env, CGO_ENABLED: '0' }, timeoutMs: 600_000 })
    assert.equal(built.code, 0, `go build scripts/argocd-jq:\n${built.stderr}`)
  }, { timeout: 660_000 })

  after(async () => {
    if (work !== '') await rm(work, { recursive: true, force: true })
  })

  /** What Argo CD compares for `o`: every matching expression applied in turn. */
  async function normalize (o: Obj, ignore: readonly IgnoreDifference[]): Promise<unknown> {
    const exprs = ignore.filter((i) => glob(i.group, groupOf(o.apiVersion)) && glob(i.kind, o.kind)).flatMap((i) => i.jqPathExpressions)
    assert.ok(exprs.length > 0, `no entry of the recipe matches ${o.kind}`)
    const file = join(work, `${o.kind}-${String(Math.random()).slice(2)}.json`)
    await writeFile(file, JSON.stringify(o))
    const r = await run('bash', ['-c', '"$0" "$@" < "$FILE"', argocdJq, ...exprs], { env: { ...process.env, FILE: file } })
    assert.equal(r.code, 0, `${o.kind}: ${r.stderr}`)
    return JSON.parse(r.stdout)
  }

  test('README.md: the injected keys of every workload kind are ignored, nothing else is', async () => {
    const { ignoreDifferences, syncOptions } = recipe('README.md', '## GitOps')
    assert.ok(syncOptions.includes('RespectIgnoreDifferences=true'))
    const podTemplate = {
      metadata: { labels: { app: 'payments' }, annotations: { 'example.com/keep': 'kept' } },
      spec: { containers: [{ name: 'app', image: 'payments:1' }] },
    }
    const meta = (name: string) => ({ name, namespace: 'payments', labels: { 'egress-mtls.io/inject': 'true' } })
    const workloads: Obj[] = [
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta('d'), spec: { selector: { matchLabels: { app: 'payments' } }, template: podTemplate } },
      { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: meta('s'), spec: { serviceName: 's', selector: { matchLabels: { app: 'payments' } }, template: podTemplate } },
      { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: meta('ds'), spec: { selector: { matchLabels: { app: 'payments' } }, template: podTemplate } },
      { apiVersion: 'batch/v1', kind: 'Job', metadata: meta('j'), spec: { template: { ...podTemplate, spec: { ...podTemplate.spec, restartPolicy: 'Never' } } } },
      { apiVersion: 'batch/v1', kind: 'CronJob', metadata: meta('cj'), spec: { schedule: '@daily', jobTemplate: { spec: { template: { ...podTemplate, spec: { ...podTemplate.spec, restartPolicy: 'Never' } } } } } },
    ]
    const manifests = join(work, 'workloads.yaml')
    await writeFile(manifests, workloads.map((w) => stringify(w)).join('---\n'))
    const injected = await runCli(['inject', '--config', join(repoRoot, 'examples', 'config.yaml'), '-n', 'payments', '-f', manifests])
    assert.equal(injected.code, 0, injected.stderr)
    const mutated = parseAllDocuments(injected.stdout).map((d) => d.toJS() as Obj)
    assert.equal(mutated.length, workloads.length)
    for (const [i, original] of workloads.entries()) {
      const after = mutated[i]!
      assert.notDeepEqual(after, original, `${original.kind}: inject changed nothing, the check below would prove nothing`)
      const [a, b] = [await normalize(original, ignoreDifferences), await normalize(after, ignoreDifferences)]
      assert.deepEqual(b, a, `${original.kind}: Argo CD would report drift`)
      // What the user wrote is still compared.
      assert.match(JSON.stringify(a), /"example\.com\/keep":"kept"/)
      assert.match(JSON.stringify(a), /"app":"payments"/)
    }
  })

  test('scripts/argocd-jq refuses what Argo CD would skip silently (the check above can fail)', async () => {
    const file = join(work, 'one.json')
    await writeFile(file, JSON.stringify({ spec: { template: { metadata: { labels: { 'egress-mtls.io/x': 'true' } } } } }))
    const skipped = await run('bash', ['-c', '"$0" "$@" < "$FILE"', argocdJq, '.spec.template.metadata.labels | with_entries(select(.key | startswith("egress-mtls.io/")))'], { env: { ...process.env, FILE: file } })
    assert.equal(skipped.code, 1)
    assert.match(skipped.stderr, /invalid path/)
  })

  test('charts/egress-mtls/README.md: a caBundle set in the cluster is not drift', async () => {
    const { ignoreDifferences, syncOptions } = recipe(join('charts', 'egress-mtls', 'README.md'), '### Argo CD')
    assert.ok(syncOptions.includes('RespectIgnoreDifferences=true'))
    const helm = process.env[HELM_ENV]
    assert.ok(helm !== undefined && helm !== '', `${HELM_ENV} is not set: run under --test-global-setup=test/e2e/global-setup.ts`)
    const t = await run(helm, ['template', 'egress-mtls', join(repoRoot, 'charts', 'egress-mtls'), '--namespace', 'egress-mtls'])
    assert.equal(t.code, 0, t.stderr)
    const rendered = parseAllDocuments(t.stdout).map((d) => d.toJS() as Obj | null).find((o) => o?.kind === 'MutatingWebhookConfiguration')
    assert.ok(rendered !== undefined && rendered !== null)
    const live = structuredClone(rendered) as Obj & { webhooks: { clientConfig: Record<string, unknown> }[] }
    assert.equal(live.webhooks[0]?.clientConfig['caBundle'], undefined, 'helm template renders no caBundle (lookup finds nothing)')
    for (const w of live.webhooks) w.clientConfig['caBundle'] = Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64')
    assert.deepEqual(await normalize(live, ignoreDifferences), await normalize(rendered, ignoreDifferences))
  })
})
