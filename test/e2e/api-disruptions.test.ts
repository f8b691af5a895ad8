// The monitor's HTTP/2 client and Secret watches (src/kube/api-streams.ts, secret-watch.ts)
// when a real kube-apiserver of their own (the shared one must stay undisturbed) sends GOAWAY
// or restarts:
// - with --goaway-chance (a GOAWAY after about one answer in 50, never on a watch), every
//   list is answered and a watch open meanwhile keeps seeing changes;
// - across a restart the connection is lost, the watch resumes on a new one from its last
//   version, which the restarted server's watch cache (it starts at the current version)
//   answers with 410 Gone; the watch lists again and no change is lost. (A connection lost
//   while the server stays up resumes without a list: api-streams.test.ts.)
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'
import { pino } from 'pino'

import { apiStreams } from '../../src/kube/api-streams.ts'
import { secretSource, type SecretWatch, watchSecrets } from '../../src/kube/secret-watch.ts'
import { type ControlPlane, startControlPlane } from '../support/control-plane.ts'
import { kubeJson, kubeRequest, loadKubeConfig } from '../support/kube.ts'
import { tcpForwarder } from '../support/tcp-forwarder.ts'

let cp: ControlPlane
let kc: KubeConfig
const ns = 'restarts'
const secrets = (name = ''): string => `/api/v1/namespaces/${ns}/secrets${name === '' ? '' : `/${name}`}`

async function putSecret (name: string, data: Record<string, string>): Promise<void> {
  const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: data }
  const r = await kubeRequest(kc, { method: 'PUT', path: secrets(name), body })
  if (r.status === 404) await kubeJson(kc, { method: 'POST', path: secrets(), body })
  else assert.equal(r.status, 200, r.body)
}

async function until (what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms`)
    await sleep(50)
  }
}

before(async () => {
  cp = await startControlPlane({ apiserverFlags: ['--goaway-chance=0.02'] })
  kc = loadKubeConfig(cp.kubeconfigPath)
  await kubeJson(kc, { method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } })
})

after(async () => {
  await cp.stop()
})

test('GOAWAY after about one answer in 50: 1,000 lists all answered on new connections, a watch open meanwhile keeps seeing changes', async () => {
  const proxy = await tcpForwarder(kc)
  const streams = apiStreams(proxy.kubeconfig)
  const source = secretSource(proxy.kubeconfig)
  const seen: string[] = []
  const w = watchSecrets(source, { namespace: ns, secretName: 'goaway' }, {
    onSecret: (_ns, _name, data) => { seen.push(data?.['v'] ?? 'gone') },
    onList: () => undefined,
  }, pino({ level: 'silent' }))
  try {
    await w.synced
    await putSecret('goaway', { v: '1' })
    await until('v=1 by the watch', () => seen.includes('1'))
    let next = 0
    const failures: unknown[] = []
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < 1000) {
        const i = next++
        await streams.get(`${secrets()}?${i % 2 === 0 ? 'resourceVersion=0&' : ''}fieldSelector=${encodeURIComponent(`metadata.name=absent-${i}`)}`).catch((err: unknown) => { failures.push(err) })
      }
    }))
    assert.deepEqual(failures.map(String), [])
    // 0.98^1000: no GOAWAY at all would happen once in 10^8 runs.
    assert.ok(proxy.accepted() > 3, `${proxy.accepted()} connections`)
    process.stdout.write(`# 1,000 lists with GOAWAY after about one in 50: ${proxy.accepted()} connections\n`)
    await putSecret('goaway', { v: '2' })
    await until('v=2 by the watch', () => seen.includes('2'))
    assert.deepEqual(streams.connections().map((c) => c.streams).filter((n) => n !== 0), [])
  } finally {
    w.stop()
    source.close()
    streams.close()
    await proxy.close()
  }
})

test('a Secret watch across an API server restart: told 410 Gone on the new connection, it lists again and loses no change', async () => {
  await putSecret('watched', { v: '1' })
  const source = secretSource(kc)
  const seen: string[] = []
  let lists = 0
  let w: SecretWatch | undefined
  try {
    w = watchSecrets(source, { namespace: ns, secretName: 'watched' }, {
      onSecret: (_ns, _name, data) => { seen.push(data?.['v'] ?? 'gone') },
      onList: () => { lists++ },
    }, pino({ level: 'silent' }))
    await w.synced
    await putSecret('watched', { v: '2' })
    await until('v=2 by the watch', () => seen.includes('2'))

    await cp.restartApiserver()
    await putSecret('watched', { v: '3' })
    await until('v=3 after a restart', () => seen.includes('3'))
    assert.equal(lists, 2, '410 Gone from the restarted server: listed again')
    await kubeJson(kc, { method: 'DELETE', path: secrets('watched') })
    await until('deleted', () => seen.at(-1) === 'gone')
    // The new list delivers v=2 again when it runs before the write of v=3.
    assert.deepEqual(seen.filter((v, i) => v !== seen[i - 1]), ['1', '2', '3', 'gone'])
  } finally {
    w?.stop()
    source.close()
  }
})
