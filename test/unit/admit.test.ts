import assert from 'node:assert/strict'
import { test } from 'node:test'

import type { AdmissionRequest } from '../../src/core/admission/admission-review.ts'
import { admit } from '../../src/core/admission/admit.ts'
import { applyPatch } from '../../src/core/admission/apply-patch.ts'
import { resolvedConfig } from '../support/config.ts'
import { type Kind, KINDS } from './kinds.ts'

const config = resolvedConfig({
  targets: [
    { name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'] },
    { name: 'tax-gw', host: 'gw.tax.example.org', namespaces: ['payments', 'billing'] },
  ],
})

function workload (kind: Kind, labels: Record<string, string> = { 'egress-mtls.io/inject': 'true' }, template: unknown = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'web:1' }] } }): Record<string, unknown> {
  let spec: unknown = template
  for (const field of KINDS[kind].path.slice(1).reverse()) spec = { [field]: spec }
  return { apiVersion: `${KINDS[kind].group}/v1`, kind, metadata: { name: 'web', namespace: 'payments', labels }, spec }
}

function request (object: unknown, over: Partial<AdmissionRequest> = {}): AdmissionRequest {
  const kind = (object as { kind?: Kind } | null)?.kind ?? 'Deployment'
  return { uid: 'a1b2', kind: { group: KINDS[kind].group, version: 'v1', kind }, namespace: 'payments', operation: 'CREATE', object, ...over }
}

const decoded = (patch: string | undefined): unknown => JSON.parse(Buffer.from(patch ?? '', 'base64').toString('utf8'))

test('every kind with a pod template is injected at its own template path: on CREATE, and on UPDATE except Jobs', async (t) => {
  for (const kind of Object.keys(KINDS) as Kind[]) {
    for (const operation of ['CREATE', 'UPDATE']) {
      await t.test(`${kind} ${operation}`, () => {
        const object = workload(kind)
        const a = admit(request(object, { operation, oldObject: object }), config)
        if (kind === 'Job' && operation === 'UPDATE') {
          assert.equal(a.result, 'skipped', `${kind} ${operation}`)
          assert.deepEqual(a.patch, [])
          return
        }
        assert.equal(a.result, 'injected', `${kind} ${operation}`)
        const prefix = `/${KINDS[kind].path.join('/')}/metadata/`
        assert.ok(a.patch.every((o) => o.path.startsWith(prefix)), `${kind}: ${JSON.stringify(a.patch)}`)
        assert.deepEqual(a.response, { uid: 'a1b2', allowed: true, patchType: 'JSONPatch', patch: a.response.patch })
        assert.deepEqual(decoded(a.response.patch), a.patch)
        const out = applyPatch(object, a.patch) as Record<string, unknown>
        assert.equal(admit(request(out), config).result, 'unchanged')
      })
    }
  }
})

/** The object with admit()'s patch for this request applied. */
function applied (object: Record<string, unknown>, over: Partial<AdmissionRequest> = {}, c = config): Record<string, unknown> {
  const a = admit(request(object, over), c)
  return applyPatch(object, a.patch) as Record<string, unknown>
}

test('a Job is injected on CREATE only: an UPDATE never patches its pod template, and warns when it is stale', async (t) => {
  const job = applied(workload('Job'))
  const update = (object: unknown, c = config): ReturnType<typeof admit> => admit(request(object, { operation: 'UPDATE', oldObject: object }), c)
  const changed = resolvedConfig({ mountRoot: '/certs', targets: [{ name: 'bank-api', host: 'api.bank.example.com', namespaces: ['payments'] }] })
  await t.test('up to date: nothing to say', () => {
    assert.deepEqual(update(job), { response: { uid: 'a1b2', allowed: true }, result: 'unchanged', patch: [], warnings: [] })
  })
  await t.test('the configuration changed since creation (tax-gw gone, bank-api moved): left alone, with a warning', () => {
    const stale = update(job, changed)
    assert.deepEqual(stale.patch, [])
    assert.equal(stale.result, 'skipped')
    assert.deepEqual(stale.response, {
      uid: 'a1b2',
      allowed: true,
      warnings: ['egress-mtls: the pod template of this Job is left as it is: it differs from what egress-mtls would inject now (injected: bank-api,tax-gw; now: bank-api); ' +
        'it cannot change after creation, recreate the Job to inject it anew'],
    })
  })
  await t.test('opted out, or never injected (labelled after creation): the same', () => {
    const optedOut = structuredClone(job)
    ;(optedOut['metadata'] as { labels: Record<string, string> }).labels['egress-mtls.io/inject'] = 'false'
    assert.match(update(optedOut).response.warnings?.[0] ?? '', /injected: bank-api,tax-gw; now: none/)
    assert.match(update(workload('Job')).response.warnings?.[0] ?? '', /injected: none; now: bank-api,tax-gw/)
  })
  await t.test('what would be denied on CREATE is a warning on UPDATE: the UPDATE must go through', () => {
    const conflicting = workload('Job', undefined, { metadata: { annotations: { 'sidecar.istio.io/userVolume': '{"a":' } } })
    assert.equal(admit(request(conflicting), config).result, 'denied')
    const a = update(conflicting)
    assert.equal(a.response.allowed, true)
    assert.deepEqual(a.patch, [])
    assert.deepEqual(a.warnings.map((m) => m.code), ['EMTLS_JOB_TEMPLATE_REFUSED'])
    assert.match(a.response.warnings?.[0] ?? '', /^egress-mtls: the pod template of this Job is left as it is: injecting it would be refused: egress-mtls: pod template annotation sidecar\.istio\.io\/userVolume is not valid JSON/)
  })
  await t.test('a CronJob\'s template may change: it is still patched on UPDATE', () => {
    const cron = applied(workload('CronJob'))
    assert.equal(update(cron, changed).result, 'injected')
  })
})

test('bounded: annotation values over 256 KiB are refused unread, whatever they hold', async (t) => {
  const hostile = (annotations: Record<string, string>, own: Record<string, string> = {}): Record<string, unknown> => {
    const object = workload('Deployment', undefined, { metadata: { annotations } })
    ;(object['metadata'] as Record<string, unknown>)['annotations'] = own
    return object
  }
  const deep = '['.repeat(1_450_000) + ']'.repeat(1_450_000)
  const cases: [Record<string, unknown>, string][] = [
    [hostile({ 'sidecar.istio.io/userVolume': deep }), 'pod template annotation sidecar.istio.io/userVolume is over 262144 bytes'],
    [hostile({ 'sidecar.istio.io/userVolumeMount': '{"a":'.repeat(480_000) + '{}' + '}'.repeat(480_000) }), 'pod template annotation sidecar.istio.io/userVolumeMount is over 262144 bytes'],
    [hostile({ 'sidecar.istio.io/userVolume': '['.repeat(100_000) + ']'.repeat(100_000) }), 'pod template annotation sidecar.istio.io/userVolume nests deeper than 64 levels'],
    [hostile({ 'egress-mtls.io/injected': 'a,'.repeat(1_450_000) }), 'pod template annotation egress-mtls.io/injected is over 262144 bytes'],
    [hostile({}, { 'egress-mtls.io/targets': 'a,'.repeat(1_450_000) }), 'annotation egress-mtls.io/targets is over 262144 bytes'],
  ]
  for (const [object, message] of cases) {
    await t.test(message, () => {
      const a = admit(request(object), config)
      assert.equal(a.result, 'denied', message)
      assert.ok(a.response.status?.message.startsWith(`egress-mtls: ${message}`), a.response.status?.message)
      assert.ok((a.response.status?.message.length ?? 0) < 300)
      // on a Job's UPDATE, the same is a warning and the UPDATE goes through
      const job = { ...object, kind: 'Job', apiVersion: 'batch/v1' }
      const u = admit(request(job, { kind: { group: 'batch', version: 'v1', kind: 'Job' }, operation: 'UPDATE' }), config)
      assert.equal(u.response.allowed, true, message)
      assert.ok(u.response.warnings?.some((w) => w.includes(message)), message)
    })
  }
  await t.test('a workload not opted in, with nothing of ours: its annotations are not read at all', () => {
    const unlabelled = hostile({ 'sidecar.istio.io/userVolume': deep })
    ;(unlabelled['metadata'] as Record<string, unknown>)['labels'] = {}
    assert.equal(admit(request(unlabelled), config).result, 'skipped')
  })
})

test('other operations and kinds are allowed unchanged', async (t) => {
  for (const operation of ['DELETE', 'CONNECT']) {
    await t.test(operation, () => {
      assert.deepEqual(admit(request(workload('Deployment'), { operation }), config), { response: { uid: 'a1b2', allowed: true }, result: 'skipped', patch: [], warnings: [] })
    })
  }
  await t.test('a Pod, and a group/kind egress-mtls does not handle', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { labels: { 'egress-mtls.io/inject': 'true' } }, spec: {} }
    assert.equal(admit({ uid: 'p', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', object: pod }, config).result, 'skipped')
    assert.equal(admit(request(workload('Deployment'), { kind: { group: 'extensions', version: 'v1beta1', kind: 'Deployment' } }), config).result, 'skipped')
  })
  await t.test('another version of a handled group/kind is handled', () => {
    assert.equal(admit(request(workload('CronJob'), { kind: { group: 'batch', version: 'v1beta1', kind: 'CronJob' } }), config).result, 'injected')
  })
})

test('a ReplicaSet a Deployment controls is left to its Deployment', () => {
  const owned = (ownerReferences: unknown): Record<string, unknown> => {
    const rs = workload('ReplicaSet')
    ;(rs['metadata'] as Record<string, unknown>)['ownerReferences'] = ownerReferences
    return rs
  }
  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u', controller: true, blockOwnerDeletion: true }
  assert.deepEqual(admit(request(owned([deployment])), config), { response: { uid: 'a1b2', allowed: true }, result: 'skipped', patch: [], warnings: [] })
  // not its controller, or not a Deployment, or nonsense: injected as any ReplicaSet
  for (const refs of [[{ ...deployment, controller: false }], [{ ...deployment, kind: 'Rollout', apiVersion: 'argoproj.io/v1alpha1' }], 'x', [null]]) {
    assert.equal(admit(request(owned(refs)), config).result, 'injected', JSON.stringify(refs))
  }
})

test('the workload\'s own labels and annotations decide, not the pod template\'s', () => {
  const template = { metadata: { labels: { 'egress-mtls.io/inject': 'true' }, annotations: { 'egress-mtls.io/targets': 'tax-gw' } } }
  const misplaced = admit(request(workload('Deployment', {}, template)), config)
  assert.equal(misplaced.result, 'skipped')
  assert.deepEqual(misplaced.response.warnings, ['egress-mtls: label egress-mtls.io/inject is on the pod template; the Deployment\'s own labels opt it in: nothing injected'])
  const object = workload('Deployment', { 'egress-mtls.io/inject': 'true' }, template)
  ;(object['metadata'] as Record<string, unknown>)['annotations'] = { 'egress-mtls.io/targets': 'bank-api' }
  const a = admit(request(object), config)
  assert.ok(a.patch.some((o) => o.path === '/spec/template/metadata/labels/egress-mtls.io~1bank-api'))
  assert.ok(!a.patch.some((o) => o.path.endsWith('tax-gw')))
})

test('the namespace comes from the request, else from the object, else "default"', () => {
  const object = workload('Deployment')
  ;(object['metadata'] as Record<string, unknown>)['namespace'] = 'billing'
  const fromRequest = admit(request(object), config) // request.namespace: payments
  assert.ok(fromRequest.patch.some((o) => o.path.endsWith('egress-mtls.io~1bank-api')))
  const { namespace: _ns, ...noNamespace } = request(object)
  const fromObject = admit(noNamespace, config)
  assert.ok(fromObject.patch.some((o) => o.path.endsWith('egress-mtls.io~1tax-gw')))
  assert.ok(!fromObject.patch.some((o) => o.path.endsWith('egress-mtls.io~1bank-api')))
  delete (object['metadata'] as Record<string, unknown>)['namespace']
  const fallback = admit(noNamespace, config)
  assert.deepEqual(fallback.response.warnings, ['egress-mtls: no target is available in namespace default: nothing injected'])
})

test('labelled with nothing to inject: allowed, unchanged, with the warnings', () => {
  const a = admit(request(workload('Deployment', { 'egress-mtls.io/inject': 'yes' })), config)
  assert.equal(a.result, 'skipped')
  assert.equal(a.response.allowed, true)
  assert.equal(a.response.patch, undefined)
  assert.equal(a.response.warnings?.length, 1)
  const unknown = workload('Deployment')
  ;(unknown['metadata'] as Record<string, unknown>)['annotations'] = { 'egress-mtls.io/targets': 'tax-gw,nope' }
  const b = admit(request(unknown), config)
  assert.equal(b.result, 'injected')
  assert.deepEqual(b.response.warnings, ['egress-mtls: annotation egress-mtls.io/targets: unknown target "nope" (available in namespace payments: bank-api, tax-gw)'])
})

test('opting out removes what was injected: the result is removed, not injected', () => {
  const injected = applyPatch(workload('Deployment'), admit(request(workload('Deployment')), config).patch) as Record<string, unknown>
  ;((injected['metadata'] as Record<string, unknown>)['labels'] as Record<string, string>)['egress-mtls.io/inject'] = 'false'
  const a = admit(request(injected, { operation: 'UPDATE' }), config)
  assert.equal(a.result, 'removed')
  const out = applyPatch(injected, a.patch)
  assert.deepEqual(out, { ...workload('Deployment', { 'egress-mtls.io/inject': 'false' }), spec: { template: { metadata: { labels: { app: 'web' }, annotations: {} }, spec: { containers: [{ name: 'app', image: 'web:1' }] } } } })
})

test('denial: allowed false, 400 BadRequest, the message; dry-run gets the same answer', () => {
  const object = workload('StatefulSet', undefined, { metadata: { annotations: { 'sidecar.istio.io/userVolume': '{"a":' } } })
  const a = admit(request(object), config)
  assert.equal(a.result, 'denied')
  assert.deepEqual(a.patch, [])
  assert.equal(a.response.allowed, false)
  assert.equal(a.response.uid, 'a1b2')
  assert.equal(a.response.patch, undefined)
  const { status } = a.response
  assert.ok(status)
  assert.equal(status.code, 400)
  assert.equal(status.reason, 'BadRequest')
  assert.match(status.message, /^egress-mtls: pod template annotation sidecar\.istio\.io\/userVolume is not valid JSON/)
  assert.deepEqual(admit(request(object, { dryRun: true }), config), a)
  const ok = workload('Job')
  assert.deepEqual(admit(request(ok, { dryRun: true }), config), admit(request(ok), config))
})

test('two targets of one host named by a workload: denied on CREATE; a Job\'s UPDATE is allowed with the denial as a warning', () => {
  const shared = resolvedConfig({
    targets: [
      { name: 'merchant-a', host: 'api.bank.example.com', namespaces: ['payments'] },
      { name: 'merchant-b', host: 'api.bank.example.com', namespaces: ['payments'] },
    ],
  })
  const both = (kind: Kind): Record<string, unknown> => {
    const w = workload(kind)
    ;(w['metadata'] as Record<string, unknown>)['annotations'] = { 'egress-mtls.io/targets': 'merchant-a,merchant-b' }
    return w
  }
  const a = admit(request(both('Deployment')), shared)
  assert.equal(a.result, 'denied')
  assert.equal(a.denial?.code, 'EMTLS_TARGETS_SHARE_HOST')
  assert.match(a.response.status?.message ?? '', /^egress-mtls: annotation egress-mtls\.io\/targets names merchant-a and merchant-b, targets of one host api\.bank\.example\.com/)
  const job = admit(request(both('Job'), { operation: 'UPDATE' }), shared)
  assert.equal(job.result, 'skipped')
  assert.deepEqual(job.warnings.map((w) => w.code), ['EMTLS_JOB_TEMPLATE_REFUSED'])
  // One named: injected with it alone.
  const one = workload('Deployment')
  ;(one['metadata'] as Record<string, unknown>)['annotations'] = { 'egress-mtls.io/targets': 'merchant-b' }
  interface Template { spec: { template: { metadata: { labels: Record<string, string>, annotations: Record<string, string> } } } }
  const injected = applyPatch(one, admit(request(one), shared).patch) as Template
  assert.equal(injected.spec.template.metadata.annotations['egress-mtls.io/injected'], 'merchant-b')
  assert.equal(injected.spec.template.metadata.labels['egress-mtls.io/merchant-b'], 'true')
  assert.equal(injected.spec.template.metadata.labels['egress-mtls.io/merchant-a'], undefined)
})

test('never throws: odd shapes are allowed unchanged, with a warning saying what is odd', () => {
  const odd: [unknown, string | null][] = [
    [null, 'the object is not a JSON object'],
    ['text', 'the object is not a JSON object'],
    [[1, 2], 'the object is not a JSON object'],
    [{ kind: 'Deployment', metadata: 'x' }, 'metadata is not an object'],
    [{ kind: 'Deployment', metadata: { labels: ['a'] } }, 'metadata.labels is not a map of strings'],
    [{ kind: 'Deployment', metadata: { labels: { 'egress-mtls.io/inject': true } } }, 'metadata.labels is not a map of strings'],
    [{ kind: 'Deployment', metadata: { labels: { 'egress-mtls.io/inject': 'true' }, annotations: { a: 1 } } }, 'metadata.annotations is not a map of strings'],
    [{ kind: 'Deployment', metadata: { labels: { 'egress-mtls.io/inject': 'true' } }, spec: 'x' }, 'spec.template is not an object'],
    [{ kind: 'Deployment', metadata: { labels: { 'egress-mtls.io/inject': 'true' } } }, 'spec.template is not an object'],
    [{ kind: 'CronJob', metadata: { labels: { 'egress-mtls.io/inject': 'true' } }, spec: { jobTemplate: [] } }, 'spec.jobTemplate.spec.template is not an object'],
    [{ kind: 'Deployment', metadata: { labels: { 'egress-mtls.io/inject': 'true' } }, spec: { template: { metadata: 7 } } }, 'spec.template.metadata is not an object'],
    [{ kind: 'Deployment', metadata: { labels: { 'egress-mtls.io/inject': 'true' } }, spec: { template: { metadata: { labels: 'a=b' } } } }, 'spec.template.metadata.labels is not a map of strings'],
    [{ kind: 'Deployment', metadata: { labels: { 'egress-mtls.io/inject': 'true' } }, spec: { template: { metadata: { annotations: { a: null } } } } }, 'spec.template.metadata.annotations is not a map of strings'],
  ]
  for (const [object, why] of odd) {
    const a = admit(request(object), config)
    assert.equal(a.result, 'error', JSON.stringify(object))
    assert.deepEqual(a.patch, [])
    assert.equal(a.response.allowed, true)
    assert.deepEqual(a.response.warnings, [`egress-mtls: ${why}: object left unchanged`])
  }
  // not opted in: a missing template is simply nothing to do
  assert.equal(admit(request({ kind: 'Deployment', metadata: {}, spec: 1 }), config).result, 'skipped')
  // the envelope itself malformed (the server checks it first, but admit must not throw either)
  const broken = { uid: 'x', kind: null, operation: 'CREATE' } as unknown as AdmissionRequest
  assert.equal(admit(broken, config).result, 'skipped')
  // null metadata maps are absent ones
  const nulls = admit(request({ kind: 'Deployment', metadata: { labels: { 'egress-mtls.io/inject': 'true' }, annotations: null }, spec: { template: { metadata: null } } }), config)
  assert.equal(nulls.result, 'injected')
  assert.deepEqual(nulls.patch[0], { op: 'add', path: '/spec/template/metadata', value: {} })
})

test('tlsStats on and the workload\'s own proxy.istio.io/config: injected, the value kept, EMTLS_PROXY_CONFIG_KEPT names the regexps to add', () => {
  const stats = { ...config, tlsStats: true }
  const own = { metadata: { labels: { app: 'web' }, annotations: { 'proxy.istio.io/config': 'holdApplicationUntilProxyStarts: true' } }, spec: { containers: [{ name: 'app', image: 'web:1' }] } }
  const a = admit(request(workload('Deployment', undefined, own)), stats)
  assert.equal(a.result, 'injected')
  assert.ok(!a.patch.some((op) => op.path.includes('proxy.istio.io')), JSON.stringify(a.patch))
  assert.deepEqual(a.warnings.map((m) => m.code), ['EMTLS_PROXY_CONFIG_KEPT'])
  assert.equal(a.response.warnings?.[0], 'egress-mtls: pod template annotation proxy.istio.io/config is the workload\'s own: left as it is, so its sidecar keeps no TLS statistics of the targets (tlsStats); ' +
    'to keep them, add to it proxyStatsMatcher.inclusionRegexps ["cluster\\\\.outbound\\\\|[0-9]+\\\\|\\\\|api\\\\.bank\\\\.example\\\\.com;\\\\.ssl\\\\..*","cluster\\\\.outbound\\\\|[0-9]+\\\\|\\\\|gw\\\\.tax\\\\.example\\\\.org;\\\\.ssl\\\\..*"]')
  // Off (the default): nothing to say.
  assert.deepEqual(admit(request(workload('Deployment', undefined, own)), config).warnings, [])
  // On, without a value of the user's: ours is added, no warning.
  const plain = admit(request(workload('Deployment')), stats)
  assert.deepEqual(plain.warnings, [])
  assert.ok(plain.patch.some((op) => op.path.endsWith('/proxy.istio.io~1config')))
})
