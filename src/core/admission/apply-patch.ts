// Applying a JSON Patch as the API server applies admit()'s: the one way `inject`, the tests
// and the benchmark do it. Pure: neither the object nor the patch is changed.
import jsonpatch, { type Operation } from 'fast-json-patch'

import { pointerTokens } from '../base/json.ts'
import type { PatchOperation } from './mutate.ts'

/**
 * The object with the patch applied, every operation checked (an invalid patch throws). The
 * patch's values are copied: admit()'s patches are shared and frozen, and fast-json-patch
 * inserts values by reference (it silently leaves a frozen `{}` empty). The object is not
 * deep-cloned (it may hold BigInts, or nest deeper than structuredClone goes): the objects
 * and arrays on the patch's paths are copied, the rest is shared with it.
 */
export function applyPatch (object: unknown, patch: readonly PatchOperation[]): unknown {
  const copied = new WeakSet<object>()
  const copy = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null || copied.has(value)) return value
    const out = Array.isArray(value) ? [...value as unknown[]] : { ...value }
    copied.add(out)
    return out
  }
  let document = copy(object)
  for (const [i, op] of patch.entries()) {
    for (const path of [op.path, (op as { from?: unknown }).from]) {
      if (typeof path !== 'string') continue
      let node = document
      for (const token of pointerTokens(path).slice(0, -1)) {
        if (typeof node !== 'object' || node === null || !Object.hasOwn(node, token)) break
        const parent = node as Record<string, unknown>
        node = parent[token] = copy(parent[token])
      }
    }
    document = jsonpatch.applyOperation(document, structuredClone(op) as Operation, true, true, true, i).newDocument
  }
  return document
}
