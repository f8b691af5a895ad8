// The chart's values.schema.json: generated from the CLI's configuration schema, current,
// accepted by Go's regexp (Helm), and every value of values.yaml documented in the README.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { Ajv } from 'ajv'
import { parse } from 'yaml'

import { helmCompatible, SCHEMA_PATH, valuesSchema, valuesSchemaText } from '../../scripts/gen-values-schema.ts'
import { configSchema } from '../../src/core/config/schema.ts'

const chart = new URL('../../charts/egress-mtls/', import.meta.url)
const read = (path: string): string => readFileSync(new URL(path, chart), 'utf8')

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

function patterns (schema: Json, out: string[] = []): string[] {
  if (Array.isArray(schema)) for (const s of schema) patterns(s, out)
  else if (typeof schema === 'object' && schema !== null) {
    for (const [k, v] of Object.entries(schema)) {
      if (k === 'pattern' && typeof v === 'string') out.push(v)
      else patterns(v, out)
    }
  }
  return out
}

const ajv = (): Ajv => new Ajv({ allErrors: true, strict: true })

test('values.schema.json is what scripts/gen-values-schema.ts generates (run it after changing src/core/config/schema.ts)', () => {
  assert.equal(readFileSync(SCHEMA_PATH, 'utf8'), valuesSchemaText())
})

test('no pattern uses lookaround or backreferences, which Go regexp (Helm) rejects', () => {
  const all = patterns(valuesSchema() as Json)
  assert.ok(all.length > 5)
  for (const p of all) assert.doesNotMatch(p, /\(\?<?[=!]|\\[1-9]/, p)
  // The CLI's own schema does use a lookahead: the generator is what removes it.
  assert.ok(patterns(configSchema as unknown as Json).some((p) => p.includes('(?=')))
  assert.throws(() => helmCompatible({ type: 'string', pattern: '^(?!x)[a-z]+$' }), /lookaround/)
})

test('the config part accepts and rejects exactly what the CLI schema does', () => {
  const helm = ajv().compile({ ...(valuesSchema() as { properties: { config: object } }).properties.config, $schema: 'http://json-schema.org/draft-07/schema#' })
  const cli = ajv().compile(configSchema)
  const label = 'a'.repeat(63)
  const hosts = [
    'api.bank.example.com', 'a', `${label}.${label}.${label}.${'b'.repeat(61)}`, `${label}.${label}.${label}.${'b'.repeat(62)}`,
    '', 'API.bank.example.com', '*.example.com', '-a.example.com', 'a..b', `${'c'.repeat(64)}.com`,
  ]
  for (const host of hosts) {
    const config = { targets: [{ name: 'bank-api', host, sni: host, secretName: host, namespaces: ['payments'] }] }
    assert.equal(helm(config), cli(config), `host ${JSON.stringify(host)} (${host.length} characters)`)
  }
  for (const config of [
    { injection: 'cluster', excludeNamespaces: ['a', 'b'] }, { injection: 'everything' },
    { mountRoot: 'relative' }, { targets: [{ name: 'x', host: 'x.example.com', namespaces: ['*'], maxConnectionDuration: '1h30m' }] },
    { targets: [{ name: 'x', hots: 'x.example.com', namespaces: ['a'] }] },
  ]) {
    assert.equal(helm(config), cli(config), JSON.stringify(config))
  }
})

test('values.yaml and examples/values-bank.yaml are valid; a typo in a target names the field', () => {
  const validate = ajv().compile(valuesSchema() as object)
  for (const file of ['values.yaml', 'examples/values-bank.yaml']) {
    assert.ok(validate(parse(read(file))), `${file}: ${JSON.stringify(validate.errors)}`)
  }
  const typo = parse(read('examples/values-bank.yaml')) as { config: { targets: Record<string, unknown>[] } }
  const [target] = typo.config.targets
  assert.ok(target !== undefined)
  target['hots'] = target['host']
  delete target['host']
  assert.equal(validate(typo), false)
  const errors = JSON.stringify(validate.errors)
  assert.match(errors, /"additionalProperty":"hots"/)
  assert.match(errors, /"missingProperty":"host"/)
})

test('the chart README documents every value of values.yaml', () => {
  const readme = read('README.md')
  const leaves: string[] = []
  const walk = (value: unknown, path: string): void => {
    const nested = typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0
    if (nested && !path.endsWith('resources') && !path.endsWith('SecurityContext')) {
      for (const [k, v] of Object.entries(value)) walk(v, path === '' ? k : `${path}.${k}`)
    } else {
      leaves.push(path)
    }
  }
  walk(parse(read('values.yaml')), '')
  assert.ok(leaves.length > 30, String(leaves.length))
  assert.deepEqual(leaves.filter((p) => !readme.includes(`| \`${p}\` |`)), [])
  // Every documented value exists (no stale rows).
  const rows = [...readme.slice(readme.indexOf('## Values')).matchAll(/^\| `([A-Za-z.]+)` \|/gm)].map((m) => m[1])
  for (const row of rows) assert.ok(leaves.includes(row ?? '') || row === 'config', `README documents ${String(row)}, which values.yaml lacks`)
})
