// Ownership against a real kube-apiserver: `provision` touches only its own instance's
// objects (labels app.kubernetes.io/managed-by=egress-mtls and egress-mtls.io/instance).
// An object at one of our names that is someone else's (or another instance's) is a
// conflict, untouched by provision, --dry-run, pruning and --prune-all, until --adopt; two
// instances in overlapping namespaces never touch each other.
//
// Every test uses instances of its own, so this file shares the run's control plane: what it
// prunes can only be its own.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'

import { ISTIO_KINDS, type IstioKind, istioPath, render } from '../../src/core/istio/render.ts'
import { resolvedConfig } from '../support/config.ts'
import { KUBECONFIG_ENV, kubeJson, kubeRequest, loadKubeConfig } from '../support/kube.ts'
import { freshNamespace } from '../support/namespaces.ts'
import { type CliResult, runCli } from '../support/run-cli.ts'

const kc = loadKubeConfig()
const kubeconfig = process.env[KUBECONFIG_ENV] ?? ''
const dir = await mkdtemp(join(tmpdir(), 'egress-mtls-ownership-'))

interface Live {
  kind: IstioKind
  metadata: { name: string, namespace: string, uid: string, labels?: Record<string, string>, resourceVersion: string }
  spec: Record<string, unknown>
}

const instanceName = (prefix: string): string => `${prefix}-${randomBytes(3).toString('hex')}`

let configs = 0

async function configFile (raw: Record<string, unknown>): Promise<string> {
  resolvedConfig(raw)
  const file = join(dir, `config-${++configs}.json`)
  await writeFile(file, JSON.stringify(raw))
  return file
}

const provision = (instance: string, config: string | undefined, ...flags: string[]): Promise<CliResult> =>
  runCli(['provision', ...(config === undefined ? [] : ['--config', config]), '--kubeconfig', kubeconfig, '--timeout', '30', '--instance', instance, ...flags])

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '')
const planLines = (s: string): string[] => lines(s).filter((l) => /^(create|update|unchanged|delete|conflict|adopt|plan:|provisioned:) /.test(l))

async function namespaces (t: TestContext, count: number): Promise<string[]> {
  const made = await Promise.all(Array.from({ length: count }, () => freshNamespace(kc, 'owner')))
  t.after(() => Promise.all(made.map((n) => n.cleanup())))
  return made.map((n) => n.name)
}

const path = (kind: IstioKind, namespace: string, name = ''): string => istioPath(kind, namespace, name)

/** An object made by someone else, at `name`. */
async function foreign (namespace: string, kind: IstioKind, name: string, labels: Record<string, string>): Promise<Live> {
  const spec = kind === 'ServiceEntry'
    ? { hosts: ['theirs.example.com'], location: 'MESH_EXTERNAL', resolution: 'DNS', ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }] }
    : { host: 'theirs.example.com' }
  const o = await kubeJson(kc, { method: 'POST', path: `${path(kind, namespace)}?fieldManager=someone-else`, body: { apiVersion: 'networking.istio.io/v1', kind, metadata: { name, labels }, spec } }) as Live
  return { ...o, kind }
}

async function get (kind: IstioKind, namespace: string, name: string): Promise<Live | undefined> {
  const r = await kubeRequest(kc, { path: path(kind, namespace, name) })
  if (r.status === 404) return undefined
  assert.equal(r.status, 200, r.body)
  return { ...(JSON.parse(r.body) as Live), kind }
}

/** Spec, labels and resourceVersion: what "untouched" means. */
const fingerprint = (o: Live | undefined): unknown =>
  o === undefined
    ? undefined
    : { spec: o.spec, labels: o.metadata.labels, resourceVersion: o.metadata.resourceVersion, uid: o.metadata.uid }

/** Every Istio object of these namespaces, keyed `Kind ns/name`, as fingerprints. */
async function snapshot (nss: readonly string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const ns of nss) {
    for (const kind of ISTIO_KINDS) {
      const list = await kubeJson(kc, { path: path(kind, ns) }) as { items: Live[] }
      for (const o of list.items) out[`${kind} ${ns}/${o.metadata.name}`] = fingerprint(o)
    }
  }
  return out
}

const only = (snap: Record<string, unknown>, instance: string): Record<string, unknown> =>
  Object.fromEntries(Object.entries(snap).filter(([, v]) => (v as { labels?: Record<string, string> }).labels?.['egress-mtls.io/instance'] === instance))

test('an object at our name that is not ours: a conflict, untouched by provision, --dry-run, pruning and --prune-all', async (t) => {
  const [a] = await namespaces(t, 1) as [string]
  const instance = instanceName('mine')
  const se = await foreign(a, 'ServiceEntry', 'egress-mtls-bank-api', { team: 'payments' })
  const dr = await foreign(a, 'DestinationRule', 'egress-mtls-bank-api', { 'app.kubernetes.io/managed-by': 'egress-mtls', 'egress-mtls.io/instance': 'other', 'egress-mtls.io/target': 'bank-api' })
  const untouched = async (when: string): Promise<void> => {
    assert.deepEqual(fingerprint(await get('ServiceEntry', a, se.metadata.name)), fingerprint(se), `ServiceEntry after ${when}`)
    assert.deepEqual(fingerprint(await get('DestinationRule', a, dr.metadata.name)), fingerprint(dr), `DestinationRule after ${when}`)
  }
  const both = await configFile({ targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: [a] }, { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: [a] }] })
  const seConflict = `ServiceEntry ${a}/egress-mtls-bank-api: conflict: an object with this name exists and it was not made by egress-mtls; left untouched. Delete or rename it, or run provision --adopt to make it instance "${instance}"'s`
  const drConflict = `DestinationRule ${a}/egress-mtls-bank-api: conflict: an object with this name exists and it belongs to egress-mtls instance "other"; left untouched. Delete or rename it, or run provision --adopt to make it instance "${instance}"'s`

  // The dry run and the real run list the same items.
  const items = [
    `conflict ServiceEntry ${a}/egress-mtls-bank-api (it was not made by egress-mtls)`,
    `conflict DestinationRule ${a}/egress-mtls-bank-api (it belongs to egress-mtls instance "other")`,
    `create ServiceEntry ${a}/egress-mtls-tax-gw`,
    `create DestinationRule ${a}/egress-mtls-tax-gw`,
  ]
  const plan = await provision(instance, both, '--dry-run')
  assert.equal(plan.code, 1, 'a conflict is a problem found')
  assert.deepEqual(lines(plan.stdout), [...items, 'plan: 2 to create, 0 to update, 0 unchanged, 0 to delete, 2 conflicts (dry run: nothing changed)'])
  assert.ok(plan.stderr.includes(`egress-mtls: ${seConflict}\n`), plan.stderr)
  assert.ok(plan.stderr.includes(`egress-mtls: ${drConflict}\n`), plan.stderr)
  await untouched('--dry-run')

  const yaml = await provision(instance, both, '--dry-run', '-o', 'yaml')
  assert.equal(yaml.code, 1)
  assert.match(yaml.stdout, /^kind: ProvisionPlan\ninstance: mine-[0-9a-f]{6}\nitems:\n {2}- action: conflict\n {4}kind: ServiceEntry\n/)
  assert.match(yaml.stdout, /reason: it belongs to egress-mtls instance "other"/)

  const applied = await provision(instance, both)
  assert.equal(applied.code, 1)
  assert.deepEqual(planLines(applied.stdout), [...items, 'provisioned: 2 created, 0 updated, 0 unchanged, 0 deleted, 2 conflicts'])
  assert.deepEqual(lines(applied.stderr).filter((l) => l.includes('conflict')), [`egress-mtls: ${seConflict}`, `egress-mtls: ${drConflict}`])
  assert.equal((await get('ServiceEntry', a, 'egress-mtls-tax-gw'))?.metadata.labels?.['egress-mtls.io/instance'], instance, 'everything else is applied')
  await untouched('provision')

  // Pruning: the configuration drops bank-api, then everything; then uninstall.
  const taxOnly = await provision(instance, await configFile({ targets: [{ name: 'tax-gw', host: 'gw.tax.example.org', namespaces: [a] }] }))
  assert.equal(taxOnly.code, 0, taxOnly.stderr)
  assert.equal(lines(taxOnly.stdout).at(-1), 'provisioned: 0 created, 0 updated, 2 unchanged, 0 deleted')
  await untouched('a prune without bank-api')
  const none = await provision(instance, await configFile({ targets: [] }))
  assert.equal(none.code, 0, none.stderr)
  assert.equal(lines(none.stdout).at(-1), 'provisioned: 0 created, 0 updated, 0 unchanged, 2 deleted')
  await untouched('a prune of everything')
  assert.equal(await get('ServiceEntry', a, 'egress-mtls-tax-gw'), undefined)
  assert.equal((await provision(instance, both)).code, 1)
  const all = await provision(instance, undefined, '--prune-all')
  assert.equal(all.code, 0, all.stderr)
  assert.deepEqual(lines(all.stdout), [
    `delete DestinationRule ${a}/egress-mtls-tax-gw (uninstall: everything of instance "${instance}" goes)`,
    `delete ServiceEntry ${a}/egress-mtls-tax-gw (uninstall: everything of instance "${instance}" goes)`,
    'provisioned: 0 created, 0 updated, 0 unchanged, 2 deleted',
  ])
  await untouched('--prune-all')
  // Even the owner of the default instance does not prune another's DestinationRule, nor an unlabelled one.
  const defaults = await provision('other', undefined, '--prune-all', '--dry-run')
  assert.ok(!defaults.stdout.includes(`ServiceEntry ${a}/`), defaults.stdout)
})

test('--adopt takes a conflicting object over: our labels and spec, the user\'s other labels kept, the same object', async (t) => {
  const [a] = await namespaces(t, 1) as [string]
  const instance = instanceName('adopt')
  const raw = { targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: [a] }] }
  const config = await configFile(raw)
  const se = await foreign(a, 'ServiceEntry', 'egress-mtls-bank-api', { team: 'payments' })

  const plan = await provision(instance, config, '--dry-run', '--adopt')
  assert.equal(plan.code, 0, plan.stderr)
  assert.deepEqual(planLines(plan.stdout), [
    `adopt ServiceEntry ${a}/egress-mtls-bank-api (it was not made by egress-mtls)`,
    `create DestinationRule ${a}/egress-mtls-bank-api`,
    'plan: 1 to create, 0 to update, 0 unchanged, 0 to delete, 1 to adopt (dry run: nothing changed)',
  ])
  assert.ok(plan.stdout.includes(`+    egress-mtls.io/instance: ${instance}\n`), plan.stdout)
  assert.ok(plan.stdout.includes('-    - theirs.example.com\n+    - api.bank.example.com\n'), plan.stdout)
  assert.deepEqual(fingerprint(await get('ServiceEntry', a, se.metadata.name)), fingerprint(se))

  const adopted = await provision(instance, config, '--adopt')
  assert.equal(adopted.code, 0, adopted.stderr)
  assert.equal(lines(adopted.stdout).at(-1), 'provisioned: 1 created, 0 updated, 0 unchanged, 0 deleted, 1 adopted')
  const now = await get('ServiceEntry', a, se.metadata.name)
  const want = render(resolvedConfig(raw), instance)[0]!
  assert.equal(now?.metadata.uid, se.metadata.uid, 'the same object, taken over')
  assert.deepEqual(now.metadata.labels, { team: 'payments', ...want.metadata.labels })
  assert.deepEqual(now.spec, want.spec)
  const again = await provision(instance, config)
  assert.equal(again.code, 0, again.stderr)
  assert.equal(lines(again.stdout).at(-1), 'provisioned: 0 created, 0 updated, 2 unchanged, 0 deleted')

  const contradiction = await provision(instance, undefined, '--prune-all', '--adopt')
  assert.equal(contradiction.code, 2)
  const badInstance = await provision('-not a label-', config)
  assert.equal(badInstance.code, 2)
  assert.match(badInstance.stderr, /--instance "-not a label-": must be a label value/)
  const gone = await provision(instance, undefined, '--prune-all')
  assert.equal(gone.code, 0, gone.stderr)
  assert.equal(await get('ServiceEntry', a, se.metadata.name), undefined, 'adopted, so ours to delete')
})

test('two instances in overlapping namespaces: provisioned, pruned and uninstalled in turn, neither touches the other', async (t) => {
  const [a, b, c] = await namespaces(t, 3) as [string, string, string]
  const blue = instanceName('blue')
  const green = instanceName('green')
  const bank = { name: 'bank-api', host: 'api.bank.example.com' }
  const tax = { name: 'tax-gw', host: 'gw.tax.example.org' }
  const blueConfig = await configFile({ routing: 'virtualService', targets: [{ ...bank, namespaces: [a, b] }] })
  const greenConfig = await configFile({ targets: [{ ...tax, namespaces: [b, c] }, { ...bank, namespaces: [c] }] })

  const blueMade = await provision(blue, blueConfig)
  assert.equal(blueMade.code, 0, blueMade.stderr)
  const greenMade = await provision(green, greenConfig)
  assert.equal(greenMade.code, 0, greenMade.stderr)
  assert.equal(lines(greenMade.stdout).at(-1), 'provisioned: 6 created, 0 updated, 0 unchanged, 0 deleted')
  const first = await snapshot([a, b, c])
  assert.equal(Object.keys(only(first, blue)).length, 6)
  assert.equal(Object.keys(only(first, green)).length, 6)

  // Each sees the other's objects at its names as conflicts, and changes nothing of them.
  const greenIntoB = await provision(green, await configFile({ targets: [{ ...tax, namespaces: [b, c] }, { ...bank, namespaces: [b, c] }] }), '--dry-run')
  assert.equal(greenIntoB.code, 1)
  assert.deepEqual(planLines(greenIntoB.stdout).filter((l) => !l.startsWith('unchanged')), [
    `conflict ServiceEntry ${b}/egress-mtls-bank-api (it belongs to egress-mtls instance "${blue}")`,
    `conflict DestinationRule ${b}/egress-mtls-bank-api (it belongs to egress-mtls instance "${blue}")`,
    'plan: 0 to create, 0 to update, 6 unchanged, 0 to delete, 2 conflicts (dry run: nothing changed)',
  ])

  // blue drops namespace b and switches routing: only blue's objects go.
  const bluePruned = await provision(blue, await configFile({ targets: [{ ...bank, namespaces: [a] }] }))
  assert.equal(bluePruned.code, 0, bluePruned.stderr)
  assert.equal(lines(bluePruned.stdout).at(-1), 'provisioned: 0 created, 2 updated, 0 unchanged, 4 deleted')
  const second = await snapshot([a, b, c])
  assert.deepEqual(only(second, green), only(first, green), 'green untouched by blue\'s prune')
  assert.deepEqual(Object.keys(only(second, blue)).sort(), [`DestinationRule ${a}/egress-mtls-bank-api`, `ServiceEntry ${a}/egress-mtls-bank-api`])

  // Now green may take b too (the name is free), and then green is uninstalled.
  const grown = await configFile({ targets: [{ ...tax, namespaces: [b, c] }, { ...bank, namespaces: [b, c] }] })
  const greenGrows = await provision(green, grown)
  assert.equal(greenGrows.code, 0, greenGrows.stderr)
  const third = await snapshot([a, b, c])
  assert.deepEqual(only(third, blue), only(second, blue), 'blue untouched by green\'s provision')
  const greenGone = await provision(green, undefined, '--prune-all')
  assert.equal(greenGone.code, 0, greenGone.stderr)
  assert.equal(lines(greenGone.stdout).at(-1), 'provisioned: 0 created, 0 updated, 0 unchanged, 8 deleted')
  const fourth = await snapshot([a, b, c])
  assert.deepEqual(fourth, only(second, blue), 'only blue\'s objects are left, untouched')

  // And blue's uninstall leaves a freshly provisioned green alone.
  assert.equal((await provision(green, greenConfig)).code, 0)
  const fifth = await snapshot([a, b, c])
  const blueGone = await provision(blue, undefined, '--prune-all')
  assert.equal(blueGone.code, 0, blueGone.stderr)
  assert.equal(lines(blueGone.stdout).at(-1), 'provisioned: 0 created, 0 updated, 0 unchanged, 2 deleted')
  assert.deepEqual(await snapshot([a, b, c]), only(fifth, green))
  assert.equal((await provision(green, undefined, '--prune-all')).code, 0)
  assert.deepEqual(await snapshot([a, b, c]), {})
})
