// The monitor's Secret watches (src/kube/secret-watch.ts on api-streams.ts) across a restart
// of a real kube-apiserver of their own (the shared one must stay up): the connection is lost,
// the watch resumes on a new one from its last version, which the restarted server's watch
// cache (it starts at the current version) answers with 410 Gone; the watch lists again and
// no change is lost. (A connection lost while the server stays up resumes without a list:
// api-streams.test.ts.)
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import type { KubeConfig } from '@kubernetes/client-node'
import { pino } from 'pino'

import { secretSource, type SecretWatch, watchSecrets } from '../../src/kube/secret-watch.ts'
import { type ControlPlane, startControlPlane } from '../support/control-plane.ts'
import { kubeJson, kubeRequest, loadKubeConfig } from '../support/kube.ts'

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
  cp = await startControlPlane()
  kc = loadKubeConfig(cp.kubeconfigPath)
  await kubeJson(kc, { method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } })
})

after(async () => {
  await cp.stop()
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
