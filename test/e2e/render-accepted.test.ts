// Every configuration that validates renders objects that kube-apiserver accepts with Istio's
// CRDs installed: their OpenAPI schemas and CEL rules (durations, ports, selectors), applied
// with server-side apply and dryRun=All (nothing is stored). Configurations are generated at
// the edges of what the schema allows (test/support/config-arbitrary.ts).
import assert from 'node:assert/strict'
import { before, test } from 'node:test'

import fc from 'fast-check'

import { objectPath, render } from '../../src/core/istio/render.ts'
import { configArbitrary, validConfig } from '../support/config-arbitrary.ts'
import { kubeRequest, loadKubeConfig } from '../support/kube.ts'
import { freshNamespace } from '../support/namespaces.ts'

const kc = loadKubeConfig()
const namespaces: string[] = []

before(async () => {
  for (let i = 0; i < 3; i++) namespaces.push((await freshNamespace(kc, `accepted-${i}`)).name)
})

test('rendered objects of generated configurations pass the API server (schemas, CEL) with dryRun=All', async () => {
  let applied = 0
  let configs = 0
  await fc.assert(fc.asyncProperty(configArbitrary(namespaces), async (raw) => {
    const config = validConfig(raw)
    if (config === undefined) return // not a valid configuration: nothing to render
    configs++
    for (const o of render(config)) {
      const path = objectPath(o) +
        '?dryRun=All&fieldManager=egress-mtls-test&force=true'
      const r = await kubeRequest(kc, { method: 'PATCH', path, body: o, contentType: 'application/apply-patch+yaml' })
      assert.ok(r.status >= 200 && r.status < 300, `${o.kind} ${o.metadata.namespace}/${o.metadata.name}: HTTP ${r.status}: ${r.body}\n${JSON.stringify(o.spec)}`)
      assert.equal(r.headers['warning'], undefined, `${o.kind}: warnings ${String(r.headers['warning'])}`)
      applied++
    }
  }), { numRuns: 60 })
  // About 91% validate (the rest draw an out-of-range duration on purpose); 30 of 60 is far below.
  assert.ok(configs >= 30, `only ${configs} of 60 generated configurations validated: the generator is too loose`)
  process.stderr.write(`[render-accepted] ${configs} configurations, ${applied} objects applied (dryRun=All)\n`)
})
