// A CustomResourceDefinition's openAPIV3Schema as a JSON Schema validator, closed as the API
// server's structural schemas are (an unknown field fails), with apiVersion, kind and the
// metadata egress-mtls writes: what the unit tier checks rendered objects against (Istio's
// CRDs in test/fixtures/istio, the Gateway API's in test/fixtures/gateway-api).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'

import { Ajv, type ValidateFunction } from 'ajv'
import { parseAllDocuments } from 'yaml'

type Schema = Record<string, unknown>
const isSchema = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Structural schemas prune unknown fields; a JSON Schema validator would let them through.
 * Close every node that lists properties and does not say otherwise, so an unknown field fails.
 */
function closed (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closed)
  if (!isSchema(node)) return node
  const out: Schema = {}
  for (const [k, v] of Object.entries(node)) {
    // Property names and enum values are data, not schemas: copy them, closing their values only.
    if (k === 'properties' && isSchema(v)) out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, closed(s)]))
    else if (k === 'enum' || k === 'required' || k === 'description') out[k] = v
    else out[k] = closed(v)
  }
  if (isSchema(node['properties']) && node['additionalProperties'] === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true) {
    out['additionalProperties'] = false
  }
  return out
}

/** `${apiVersion} ${kind}`: what a validator is keyed by. */
export const gvk = (apiVersion: string, kind: string): string => `${apiVersion} ${kind}`

/**
 * A validator per wanted kind (`gvk(apiVersion, kind)`) found in the CRD files, at the
 * apiVersion's version. Fails unless every wanted kind has one.
 */
export function crdValidators (files: readonly URL[], wanted: readonly string[]): Map<string, ValidateFunction> {
  const ajv = new Ajv({ strict: false, allErrors: true })
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 })
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) })
  ajv.addFormat('double', { type: 'number', validate: () => true })
  ajv.addFormat('byte', /^[A-Za-z0-9+/]*={0,2}$/)
  ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)))
  const validators = new Map<string, ValidateFunction>()
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const crd = doc.toJS() as {
        kind?: string,
        spec?: { group?: string, names?: { kind?: string }, versions?: { name: string, schema?: { openAPIV3Schema?: Schema } }[] },
      } | null
      if (crd?.kind !== 'CustomResourceDefinition') continue
      for (const version of crd.spec?.versions ?? []) {
        const apiVersion = `${crd.spec?.group ?? ''}/${version.name}`
        const kind = crd.spec?.names?.kind ?? ''
        const key = gvk(apiVersion, kind)
        if (!wanted.includes(key)) continue
        const schema = version.schema?.openAPIV3Schema
        assert.ok(schema, `${key}: no openAPIV3Schema`)
        // The CRD schema leaves apiVersion, kind and metadata to the API server; say them here.
        const top = closed(schema) as Schema
        top['properties'] = {
          ...(top['properties'] as Schema),
          apiVersion: { const: apiVersion },
          kind: { const: kind },
          metadata: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'namespace', 'labels'],
            properties: {
              // What the API server requires of a custom resource's name: a DNS-1123 subdomain.
              name: { type: 'string', maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' },
              namespace: { type: 'string', maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
              labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 63 } },
            },
          },
        }
        top['required'] = ['apiVersion', 'kind', 'metadata', 'spec']
        validators.set(key, ajv.compile(top))
      }
    }
  }
  assert.deepEqual([...validators.keys()].sort(), [...wanted].sort())
  return validators
}

/** What the validator of `o`'s kind says about it (none: valid); fails when there is no validator for it. */
export function schemaErrorsWith (validators: ReadonlyMap<string, ValidateFunction>, o: unknown): string[] {
  const { apiVersion, kind } = o as { apiVersion: string, kind: string }
  const validate = validators.get(gvk(apiVersion, kind))
  assert.ok(validate, `no schema for ${gvk(apiVersion, kind)}`)
  return validate(o) ? [] : (validate.errors ?? []).map((e) => `${kind} ${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
}
