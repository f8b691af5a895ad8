// The configuration file is reloaded from its ConfigMap volume without a restart; a bad new
// configuration keeps the last good one, is logged with the field named, and is counted.
import assert from 'node:assert/strict'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'

import { type AdmissionRequest, reviewResponse } from '../../src/core/admission/admission-review.ts'
import { admit } from '../../src/core/admission/admit.ts'
import { startWebhook, type Webhook } from '../../src/server/webhook.ts'
import { parsedConfig } from '../support/config.ts'
import { projectVolume, tempDir } from '../support/kubelet-volume.ts'
import { httpGet, sample, scrape } from '../support/metrics-port.ts'
import { loopbackServer, testAuthority } from '../support/pki.ts'
import { deploymentReview, EXAMPLE_CONFIG, Logs, post, startTestWebhook, type TestWebhook } from '../support/webhook.ts'

const RELOADS = 'egress_mtls_config_reloads_total'
const NEXT_CONFIG = `
injection: label
annotationFormat: array
targets:
  - name: bank-api
    host: api.bank.example.com
    namespaces: [payments]
  - name: tax-gw
    host: gw.tax.example.org
    namespaces: [payments, billing]
`
let t: TestWebhook
before(async () => { t = await startTestWebhook({ watch: { debounceMs: 50, pollMs: 300 } }) })
after(async () => { await t.webhook.close() })

/** The webhook's answer must be admit() under `config`: the configuration it decides with. */
async function answersWith (configText: string): Promise<void> {
  const review = deploymentReview()
  const res = await post(t.webhook.port, JSON.stringify(review), { ca: t.ca.cert })
  assert.equal(res.status, 200)
  const admission = admit(review.request as unknown as AdmissionRequest, parsedConfig(configText))
  const expected = reviewResponse(review.apiVersion, admission.response)
  assert.deepEqual(JSON.parse(res.body), JSON.parse(JSON.stringify(expected)))
}

const reloads = async (): Promise<{ success: number | undefined, failure: number | undefined }> => {
  const text = await scrape(t.webhook.metricsPort)
  return { success: sample(text, RELOADS, { result: 'success' }), failure: sample(text, RELOADS, { result: 'failure' }) }
}

test('both reload results are counted from zero', async () => {
  assert.deepEqual(await reloads(), { success: 0, failure: 0 })
})

test('a new configuration in the volume is taken without restart', async () => {
  const request = deploymentReview().request as unknown as AdmissionRequest
  assert.notDeepEqual(admit(request, parsedConfig(NEXT_CONFIG)).patch, admit(request, parsedConfig(EXAMPLE_CONFIG)).patch, 'the two configurations answer differently')
  await answersWith(EXAMPLE_CONFIG)
  const from = t.logs.entries.length
  projectVolume(t.configDir, { 'config.yaml': NEXT_CONFIG })
  const line = await t.logs.waitFor((e) => e.msg === 'configuration reloaded', 3000, from)
  assert.deepEqual(line['targets'], ['bank-api', 'tax-gw'])
  assert.deepEqual(await reloads(), { success: 1, failure: 0 })
  await answersWith(NEXT_CONFIG)
})

test('a bad configuration keeps the last good one, logs the field and counts a failure', async () => {
  const from = t.logs.entries.length
  projectVolume(t.configDir, { 'config.yaml': 'injection: label\ntargets:\n  - name: bank-api\n    host: api.bank.example.com\n    namespaces: [payments]\n    port: 70000\n' })
  const line = await t.logs.waitFor((e) => e.msg.startsWith('configuration reload failed'), 3000, from)
  assert.equal(line.level, 50)
  assert.match(String(line['error']), /config\.yaml:6: targets\[0\]\.port: must be <= 65535/)
  assert.deepEqual(await reloads(), { success: 1, failure: 1 })
  await answersWith(NEXT_CONFIG)
  assert.equal((await httpGet(t.webhook.metricsPort, '/readyz')).status, 200, 'still ready')

  // Not YAML at all: a failure too.
  const yamlFrom = t.logs.entries.length
  projectVolume(t.configDir, { 'config.yaml': 'targets: [unclosed\n' })
  await t.logs.waitFor((e) => e.msg.startsWith('configuration reload failed') && /config\.yaml:\d+/.test(String(e['error'])), 3000, yamlFrom)
  assert.equal((await reloads()).failure, 2)
  await answersWith(NEXT_CONFIG)

  // An emptied ConfigMap key, or `null`: failures, not "no targets" (which would strip every
  // injection from the workloads updated meanwhile).
  for (const [n, empty] of ['', 'null\n'].entries()) {
    const emptyFrom = t.logs.entries.length
    projectVolume(t.configDir, { 'config.yaml': empty })
    const failed = await t.logs.waitFor((e) => e.msg.startsWith('configuration reload failed'), 3000, emptyFrom)
    assert.match(String(failed['error']), /config\.yaml: is empty/)
    assert.equal((await reloads()).failure, 3 + n)
    await answersWith(NEXT_CONFIG)
  }

  // And a good one again is taken.
  const goodFrom = t.logs.entries.length
  projectVolume(t.configDir, { 'config.yaml': NEXT_CONFIG.replace('annotationFormat: array', 'annotationFormat: map') })
  await t.logs.waitFor((e) => e.msg === 'configuration reloaded', 3000, goodFrom)
  assert.deepEqual(await reloads(), { success: 2, failure: 4 })
})

test('a config file that is a symlink into another directory is followed by polling', async () => {
  // inotify on the directory of the path sees nothing when the file behind the symlink changes.
  const ca = await testAuthority()
  const leaf = await loopbackServer(ca, 10)
  const root = tempDir()
  mkdirSync(join(root, 'real'))
  mkdirSync(join(root, 'link'))
  writeFileSync(join(root, 'real', 'config.yaml'), NEXT_CONFIG)
  symlinkSync(join(root, 'real', 'config.yaml'), join(root, 'link', 'config.yaml'))
  writeFileSync(join(root, 'tls.crt'), leaf.cert)
  writeFileSync(join(root, 'tls.key'), leaf.key)
  const logs = new Logs()
  let webhook: Webhook | undefined
  try {
    webhook = await startWebhook({
      listen: { host: '127.0.0.1', port: 0 },
      metricsListen: { host: '127.0.0.1', port: 0 },
      configFile: join(root, 'link', 'config.yaml'),
      tls: { certFile: join(root, 'tls.crt'), keyFile: join(root, 'tls.key') },
      log: logs.logger,
      watch: { pollMs: 200 },
    })
    writeFileSync(join(root, 'real', 'config.yaml'), `${NEXT_CONFIG}excludeNamespaces: [legacy]\n`)
    await logs.waitFor((e) => e.msg === 'configuration reloaded', 3000)
    assert.equal(sample(await scrape(webhook.metricsPort), RELOADS, { result: 'success' }), 1)
  } finally {
    await webhook?.close()
  }
})

test('the last reload\'s result and time are gauges: 0 after a failure, 1 again after a success', async () => {
  const w = await startTestWebhook({ watch: { debounceMs: 50, pollMs: 300 } })
  try {
    const last = async (): Promise<[number | undefined, number]> => {
      const text = await scrape(w.webhook.metricsPort)
      return [sample(text, 'egress_mtls_config_last_reload_successful'), sample(text, 'egress_mtls_config_last_reload_timestamp_seconds') ?? 0]
    }
    const [okAtStart, startedAt] = await last()
    assert.equal(okAtStart, 1, 'the load at start counts as the last reload')
    const badFrom = w.logs.entries.length
    projectVolume(w.configDir, { 'config.yaml': 'targets: [unclosed\n' })
    await w.logs.waitFor((e) => e.msg.startsWith('configuration reload failed'), 3000, badFrom)
    const [okAfterBad, failedAt] = await last()
    assert.equal(okAfterBad, 0)
    assert.ok(failedAt >= startedAt && failedAt <= Date.now() / 1000, `${failedAt} after ${startedAt}`)
    const goodFrom = w.logs.entries.length
    projectVolume(w.configDir, { 'config.yaml': NEXT_CONFIG })
    await w.logs.waitFor((e) => e.msg === 'configuration reloaded', 3000, goodFrom)
    const [okAfterGood, reloadedAt] = await last()
    assert.equal(okAfterGood, 1)
    assert.ok(reloadedAt >= failedAt)
  } finally {
    await w.webhook.close()
  }
})
