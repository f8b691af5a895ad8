// applyPatch(): admit()'s patches are shared and frozen; the object and the patch are left as
// they are, whatever the object holds.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { applyPatch } from '../../src/core/admission/apply-patch.ts'
import type { PatchOperation } from '../../src/core/admission/mutate.ts'

const frozen = (ops: PatchOperation[]): readonly PatchOperation[] =>
  Object.freeze(ops.map((o) => Object.freeze({ ...o, value: Object.freeze(o.value) })))

test('a frozen {} added, then keys added into it: they are there, and neither argument changed', () => {
  const object = { metadata: { name: 'a' }, spec: { template: {}, replicas: 2n ** 63n - 1n } }
  const patch = frozen([
    { op: 'add', path: '/spec/template/metadata', value: {} },
    { op: 'add', path: '/spec/template/metadata/annotations', value: {} },
    { op: 'add', path: '/spec/template/metadata/annotations/a~1b', value: 'x' },
  ])
  const before = structuredClone(object)
  const out = applyPatch(object, patch)
  assert.deepEqual(out, { metadata: { name: 'a' }, spec: { template: { metadata: { annotations: { 'a/b': 'x' } } }, replicas: 2n ** 63n - 1n } })
  assert.deepEqual(object, before)
  assert.deepEqual(patch[0]?.value, {})
  // the values are copies: the result can be changed
  assert.equal(Object.isFrozen((applyPatch({}, frozen([{ op: 'add', path: '/m', value: {} }])) as { m: unknown }).m), false)
})

test('an object deeper than structuredClone goes is patched; an invalid patch throws', () => {
  let deep: unknown = 1
  for (let i = 0; i < 10_000; i++) deep = { a: deep }
  assert.deepEqual((applyPatch({ deep, m: {} }, [{ op: 'add', path: '/m/k', value: 'v' }]) as { m: unknown }).m, { k: 'v' })
  assert.throws(() => applyPatch({}, [{ op: 'remove', path: '/missing' }]), /does not exist/)
  assert.throws(() => applyPatch({}, [{ op: 'add', path: '/a/b', value: 1 }]))
})
