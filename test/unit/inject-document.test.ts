// admitDocument (src/core/admission/inject.ts): what `inject` asks admit() of one document,
// without files or text: the objects found (a List's items, Lists in Lists), the namespace
// each is asked in, and the one patch of the document, each object's at its own place.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { admit } from '../../src/core/admission/admit.ts'
import { applyPatch } from '../../src/core/admission/apply-patch.ts'
import { admitDocument } from '../../src/core/admission/inject.ts'
import { syntheticRequest } from '../../src/core/admission/workloads.ts'
import { resolvedConfig } from '../support/config.ts'

const config = resolvedConfig({ targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'] }] })

interface Over { namespace?: string, apiVersion?: string, annotations?: Record<string, string> }
const deployment = (name: string, over: Over = {}): Record<string, unknown> => ({
  apiVersion: over.apiVersion ?? 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels: { 'egress-mtls.io/inject': 'true' }, ...(over.namespace === undefined ? {} : { namespace: over.namespace }) },
  spec: {
    template: {
      metadata: { labels: { app: name }, ...(over.annotations === undefined ? {} : { annotations: over.annotations }) },
      spec: { containers: [{ name: 'app', image: 'web:1' }] },
    },
  },
})
const list = (...items: unknown[]): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'List', items })
/** admit()'s own patch for the object, asked in `namespace`. */
const ownPatch = (object: Record<string, unknown>, namespace: string): unknown =>
  admit(syntheticRequest(object as never, 'egress-mtls-inject', 'CREATE', namespace), config).patch

test('one object: its name, and admit()\'s patch as it is', async (t) => {
  await t.test('a Deployment injected in -n', () => {
    const web = deployment('web')
    const out = admitDocument(web, config, 'payments')
    assert.deepEqual(out.objects.map((o) => o.name), ['Deployment/web'])
    assert.ok(out.patch.length > 0)
    assert.deepEqual(out.patch, ownPatch(web, 'payments'))
  })
  await t.test('an object without a name is Kind/(no name)', () => {
    const web = deployment('')
    assert.deepEqual(admitDocument(web, config, 'payments').objects.map((o) => o.name), ['Deployment/(no name)'])
  })
  await t.test('a value that is no Kubernetes object (no apiVersion or kind) is passed over', () => {
    for (const value of [{ kind: 'Deployment' }, { apiVersion: 'v1' }, 'text', 42, []]) {
      assert.deepEqual(admitDocument(value, config, 'payments'), { objects: [], patch: [] }, JSON.stringify(value))
    }
  })
})

test('the namespace: the object\'s own, else -n, else default', async (t) => {
  await t.test('the object\'s own namespace wins over -n', () => {
    const web = deployment('web', { namespace: 'payments' })
    assert.deepEqual(admitDocument(web, config, 'elsewhere').patch, ownPatch(web, 'payments'))
  })
  await t.test('an empty namespace is none: -n', () => {
    const web = deployment('web', { namespace: '' })
    assert.deepEqual(admitDocument(web, config, 'payments').patch, ownPatch(web, 'payments'))
  })
  await t.test('neither: default, where bank-api is not available', () => {
    const out = admitDocument(deployment('web'), config, undefined)
    assert.deepEqual(out.patch, [])
    assert.deepEqual(out.objects[0]?.warnings.map((w) => w.code), ['EMTLS_NO_TARGET_AVAILABLE'])
  })
})

test('Lists: each item asked on its own, its patch prefixed with where it stands', async (t) => {
  await t.test('a List of two Deployments and a ConfigMap', () => {
    const a = deployment('a')
    const b = deployment('b')
    const document = list(a, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, b)
    const out = admitDocument(document, config, 'payments')
    assert.deepEqual(out.objects.map((o) => o.name), ['Deployment/a', 'ConfigMap/c', 'Deployment/b'])
    const own = (object: Record<string, unknown>, at: string): unknown[] =>
      (ownPatch(object, 'payments') as { path: string }[]).map((op) => ({ ...op, path: `${at}${op.path}` }))
    assert.deepEqual(out.patch, [...own(a, '/items/0'), ...own(b, '/items/2')])
    const injected = applyPatch(document, out.patch) as { items: unknown[] }
    assert.deepEqual(injected.items[0], applyPatch(a, ownPatch(a, 'payments') as never))
    assert.deepEqual(injected.items[2], applyPatch(b, ownPatch(b, 'payments') as never))
  })
  await t.test('a List in a List (any kind ending in List)', () => {
    const a = deployment('a')
    const out = admitDocument(list(list(), { ...list(a), kind: 'DeploymentList' }), config, 'payments')
    assert.deepEqual(out.objects.map((o) => o.name), ['Deployment/a'])
    assert.ok(out.patch.length > 0)
    assert.ok(out.patch.every((op) => op.path.startsWith('/items/1/items/0/spec/template/')), JSON.stringify(out.patch))
  })
  await t.test('a List without items is an object of its own, not walked', () => {
    assert.deepEqual(admitDocument({ apiVersion: 'v1', kind: 'List' }, config, 'payments').objects.map((o) => o.name), ['List/(no name)'])
  })
})

test('what is said of each object: a removed apiVersion, warnings, a denial', async (t) => {
  await t.test('a removed apiVersion is said, a current one is not', () => {
    const [old] = admitDocument(deployment('old', { apiVersion: 'extensions/v1beta1' }), config, 'payments').objects
    assert.match(old?.removed ?? '', /^apiVersion extensions\/v1beta1 was removed in Kubernetes 1\.16/)
    const [current] = admitDocument(deployment('web'), config, 'payments').objects
    assert.equal(current?.removed, undefined)
  })
  await t.test('a denial is the item\'s, and its patch is empty', () => {
    const broken = deployment('broken', { annotations: { 'sidecar.istio.io/userVolumeMount': '{"egress-mtls-bank-api":{"mountPath":"/mine"}}' } })
    const out = admitDocument(list(deployment('web'), broken), config, 'payments')
    assert.deepEqual(out.objects.map((o) => [o.name, o.denial?.code]), [['Deployment/web', undefined], ['Deployment/broken', 'EMTLS_USER_VOLUME_CONFLICT']])
    assert.ok(out.patch.every((op) => op.path.startsWith('/items/0/')))
  })
})
