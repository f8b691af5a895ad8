// The monitor's HTTP/2 client (src/kube/api-streams.ts) and its Secret watches
// (src/kube/secret-watch.ts) on the real API server: hundreds of watches share a connection
// or a few, a ServiceAccount's token is sent and RBAC's answer comes back in the API's words,
// watches cut with their connection resume from their last version (no new list) on a new
// one, and a kubeconfig with a proxy-url, or a server behind a proxy that speaks HTTP/1.1
// only, falls back to client-node through that proxy.
import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer, request as httpsRequest, type RequestOptions } from 'node:https'
import { connect as tcpConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import { KubeConfig } from '@kubernetes/client-node'
import { pino } from 'pino'

import { apiStreams, NoHttp2, StatusError, type WatchEvent } from '../../src/kube/api-streams.ts'
import { secretSource, watchSecrets } from '../../src/kube/secret-watch.ts'
import { kubeJson, kubeRequest, loadKubeConfig, serviceAccountKubeconfig } from '../support/kube.ts'
import { type FreshNamespace, freshNamespace } from '../support/namespaces.ts'
import { loopbackServer, testAuthority } from '../support/pki.ts'
import { tcpForwarder } from '../support/tcp-forwarder.ts'

const kc = loadKubeConfig()
let ns: FreshNamespace
const secrets = (name = ''): string => `/api/v1/namespaces/${ns.name}/secrets${name === '' ? '' : `/${name}`}`
const byName = (name: string): string => `fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`
const silent = pino({ level: 'silent' })

async function putSecret (name: string, data: Record<string, string>): Promise<void> {
  const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: data }
  const r = await kubeRequest(kc, { method: 'PUT', path: secrets(name), body })
  if (r.status === 404) await kubeJson(kc, { method: 'POST', path: secrets(), body })
  else assert.equal(r.status, 200, r.body)
}

async function until (what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms`)
    await sleep(20)
  }
}

before(async () => {
  ns = await freshNamespace(kc, 'api-streams')
})

after(async () => {
  await ns.cleanup()
})

test('300 watches share the connections the API server\'s stream limit asks for, and each sees its Secret created', async () => {
  const streams = apiStreams(kc)
  const halt = new AbortController()
  const N = 300
  const seen = new Set<number>()
  const watches = Array.from({ length: N }, (_, i) => streams.watch(`${secrets()}?watch=true&${byName(`w-${i % 3}`)}`, (e: WatchEvent) => {
    if (e.type === 'ADDED' && e.object.metadata?.name === 'w-1') seen.add(i)
  }, { signal: halt.signal, idleMs: 60_000 }).catch((err: unknown) => err))
  try {
    await until('every watch open', () => streams.connections().reduce((n, c) => n + c.streams, 0) === N)
    const open = streams.connections()
    const limit = open[0]?.limit ?? 0
    assert.ok(limit >= 100, `the server allows ${limit} streams per connection`)
    assert.equal(open.length, Math.ceil(N / limit), JSON.stringify(open))
    assert.ok(open.every((c) => c.streams <= c.limit), JSON.stringify(open))
    await putSecret('w-1', { x: 'y' })
    await until('ADDED on every watch of w-1', () => seen.size === N / 3)
    assert.deepEqual([...seen].every((i) => i % 3 === 1), true)
  } finally {
    halt.abort()
    const ends = await Promise.all(watches)
    streams.close()
    assert.ok(ends.every((e) => e instanceof Error), 'each watch ends with the abort')
  }
  assert.equal(streams.connections().length, 0)
})

test('1,000 short answers, 8 at a time: each read whole, however soon its stream closes, and no stream left counted', async () => {
  const streams = apiStreams(kc)
  let next = 0
  const failures: unknown[] = []
  try {
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < 1000) {
        const i = next++
        const answer = await streams.get(`${secrets()}?resourceVersion=0&${byName(`absent-${i}`)}`).catch((err: unknown) => { failures.push(err); return undefined })
        if (answer !== undefined) assert.deepEqual((answer as { items: unknown[] }).items, [])
      }
    }))
    assert.deepEqual(failures, [])
    assert.deepEqual(streams.connections().map((c) => c.streams), [0])
  } finally {
    streams.close()
  }
})

test('a ServiceAccount\'s token is sent, from the kubeconfig or from a file as in a pod; what RBAC refuses is a StatusError in the API\'s words', async (t) => {
  const sa = 'reader'
  await kubeJson(kc, { method: 'POST', path: `/api/v1/namespaces/${ns.name}/serviceaccounts`, body: { metadata: { name: sa } } })
  await kubeJson(kc, { method: 'POST', path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns.name}/roles`, body: { metadata: { name: sa }, rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['granted'], verbs: ['get', 'list', 'watch'] }] } })
  await kubeJson(kc, { method: 'POST', path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns.name}/rolebindings`, body: { metadata: { name: sa }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa }, subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns.name }] } })
  await putSecret('granted', { a: 'b' })
  const dir = await mkdtemp(join(tmpdir(), 'egress-mtls-api-streams-'))
  const withToken = loadKubeConfig(await serviceAccountKubeconfig(kc, ns.name, sa, dir))
  // What KubeConfig.loadFromCluster() sets up in a pod: the CA and the token as files, the
  // token through client-node's tokenFile provider.
  const token = withToken.getCurrentUser()?.token ?? ''
  await writeFile(join(dir, 'token'), token)
  await writeFile(join(dir, 'ca.crt'), Buffer.from(withToken.getCurrentCluster()?.caData ?? '', 'base64'))
  const inPod = new KubeConfig()
  inPod.loadFromOptions({
    clusters: [{ name: 'pod', server: withToken.getCurrentCluster()?.server ?? '', caFile: join(dir, 'ca.crt'), skipTLSVerify: false }],
    users: [{ name: 'pod', authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'token') } } }],
    contexts: [{ name: 'pod', cluster: 'pod', user: 'pod' }],
    currentContext: 'pod',
  })
  for (const [name, config] of [['the token in the kubeconfig', withToken], ['the token and the CA from files, as in a pod', inPod]] as const) {
    await t.test(name, async () => {
      const streams = apiStreams(config)
      try {
        const list = await streams.get(`${secrets()}?${byName('granted')}`) as { items: { metadata: { name: string } }[] }
        assert.deepEqual(list.items.map((s) => s.metadata.name), ['granted'])
        const refused = await streams.get(secrets()).then(() => undefined, (err: unknown) => err)
        assert.ok(refused instanceof StatusError, String(refused))
        assert.equal(refused.status, 403)
        assert.equal(refused.reason, 'Forbidden')
        assert.match(refused.message, new RegExp(`system:serviceaccount:${ns.name}:${sa}.*cannot list resource "secrets"`))
        const watch = await streams.watch(`${secrets()}?watch=true`, () => undefined, { signal: AbortSignal.timeout(10_000), idleMs: 10_000 }).then(() => undefined, (err: unknown) => err)
        assert.ok(watch instanceof StatusError && watch.status === 403, String(watch))
      } finally {
        streams.close()
      }
    })
  }
})

test('Secret watches cut with their connection resume from their last version on a new one, without a new list', async () => {
  const proxy = await tcpForwarder(kc)
  const via = proxy.kubeconfig
  await putSecret('cut-me', { v: '1' })
  const source = secretSource(via)
  const seen: string[] = []
  let lists = 0
  const watches = ['cut-me', 'other'].map((secretName) => watchSecrets(source, { namespace: ns.name, secretName }, {
    onSecret: (_ns, name, data) => { if (name === 'cut-me') seen.push(data?.['v'] ?? 'gone') },
    onList: () => { lists++ },
  }, silent))
  try {
    await Promise.all(watches.map((w) => w.synced))
    assert.deepEqual(seen, ['1'])
    assert.equal(lists, 2)
    await putSecret('cut-me', { v: '2' })
    await until('v=2 by the watch', () => seen.includes('2'))
    assert.equal(proxy.accepted(), 1, 'two lists and two watches on one connection')
    proxy.cut()
    await putSecret('cut-me', { v: '3' })
    await until('v=3 after the cut', () => seen.includes('3'))
    await kubeJson(kc, { method: 'DELETE', path: secrets('cut-me') })
    await until('deleted', () => seen.at(-1) === 'gone')
    assert.deepEqual(seen, ['1', '2', '3', 'gone'])
    assert.equal(lists, 2, 'no new list: the watches resumed from their versions')
    assert.equal(proxy.accepted(), 2, 'one new connection')
  } finally {
    for (const w of watches) w.stop()
    source.close()
    await proxy.close()
  }
})

test('a connection gone silent (no FIN, no RST) is found by its ping and closed: its watch fails within seconds, the next request gets a new connection', async () => {
  const proxy = await tcpForwarder(kc)
  const streams = apiStreams(proxy.kubeconfig, { pingEveryMs: 500, pingTimeoutMs: 1000 })
  try {
    const watch = streams.watch(`${secrets()}?watch=true&${byName('silent')}`, () => undefined, { signal: AbortSignal.timeout(60_000), idleMs: 60_000 })
      .then(() => 'ended', (err: unknown) => err)
    await until('the watch open', () => streams.connections()[0]?.streams === 1)
    await sleep(1500)
    assert.equal(streams.connections().length, 1, 'pings answered: the connection stays')
    const frozen = Date.now()
    proxy.freeze()
    const outcome = await watch
    const ms = Date.now() - frozen
    assert.ok(outcome instanceof Error, String(outcome))
    assert.ok(ms < 5_000, `the watch failed ${ms} ms after the freeze`)
    assert.deepEqual(streams.connections(), [])
    await streams.get(`${secrets()}?${byName('silent')}`)
    assert.equal(proxy.accepted(), 2)
  } finally {
    streams.close()
    await proxy.close()
  }
})

test('a kubeconfig with a proxy-url: lists and watches go through client-node and the proxy', async () => {
  const target = new URL(kc.getCurrentCluster()?.server ?? '')
  const tunnels: string[] = []
  const proxy = createHttpServer()
  proxy.on('connect', (req, client: Socket) => {
    tunnels.push(req.url ?? '')
    const upstream = tcpConnect(Number(target.port), target.hostname, () => { client.write('HTTP/1.1 200 Connection Established\r\n\r\n'); upstream.pipe(client).pipe(upstream) })
    for (const s of [client, upstream]) s.on('error', () => { client.destroy(); upstream.destroy() })
  })
  await new Promise<void>((resolve) => { proxy.listen(0, '127.0.0.1', resolve) })
  const address = proxy.address()
  assert.ok(address !== null && typeof address === 'object')
  const via = new KubeConfig()
  via.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, proxyUrl: `http://127.0.0.1:${address.port}` })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.getCurrentContext(),
  })
  await putSecret('proxied', { v: '1' })
  const source = secretSource(via)
  const seen: string[] = []
  const w = watchSecrets(source, { namespace: ns.name, secretName: 'proxied' }, {
    onSecret: (_ns, _name, data) => { seen.push(data?.['v'] ?? 'gone') },
    onList: () => undefined,
  }, silent)
  try {
    await w.synced
    await putSecret('proxied', { v: '2' })
    await kubeJson(kc, { method: 'DELETE', path: secrets('proxied') })
    await until('updated and deleted by the watch', () => seen.at(-1) === 'gone')
    assert.deepEqual(seen, ['1', '2', 'gone'])
    assert.ok(tunnels.length >= 2 && tunnels.every((t) => t === target.host), JSON.stringify(tunnels))
  } finally {
    w.stop()
    source.close()
    proxy.closeAllConnections()
    await new Promise((resolve) => { proxy.close(resolve) })
  }
})

test('behind a proxy that speaks HTTP/1.1 only: NoHttp2, and Secret watches go on through client-node, said once in the log', async () => {
  const target = new URL(kc.getCurrentCluster()?.server ?? '')
  const admin: RequestOptions = {}
  await kc.applyToHTTPSOptions(admin)
  const ca = await testAuthority('HTTP/1.1 proxy CA')
  const serving = await loopbackServer(ca)
  const forwarded: string[] = []
  // node:https offers http/1.1 only (ALPN): a client asking for h2 alone is refused.
  const proxy = createHttpsServer({ key: serving.key, cert: serving.cert }, (req, res) => {
    forwarded.push(req.url ?? '')
    const upstream: RequestOptions = { hostname: target.hostname, port: target.port, path: req.url, method: req.method }
    upstream.headers = { ...req.headers, host: target.host }
    const up = httpsRequest({ ...upstream, ca: admin.ca, cert: admin.cert, key: admin.key }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    up.on('error', () => { res.destroy() })
    res.on('close', () => { up.destroy() })
    req.pipe(up)
  })
  await new Promise<void>((resolve) => { proxy.listen(0, '127.0.0.1', resolve) })
  const address = proxy.address()
  assert.ok(address !== null && typeof address === 'object')
  const via = new KubeConfig()
  via.loadFromOptions({
    clusters: [{ name: 'h1', server: `https://127.0.0.1:${address.port}`, caData: Buffer.from(ca.cert).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'h1' }],
    contexts: [{ name: 'h1', cluster: 'h1', user: 'h1' }],
    currentContext: 'h1',
  })
  const streams = apiStreams(via)
  const refused = await streams.get(secrets()).then(() => undefined, (err: unknown) => err)
  assert.ok(refused instanceof NoHttp2, String(refused))
  streams.close()

  await putSecret('h1', { v: '1' })
  const logged: string[] = []
  const log = pino({ level: 'warn' }, { write: (line: string) => { logged.push(line) } })
  const source = secretSource(via, log)
  const seen: string[] = []
  const watches = ['h1', 'h1-other'].map((secretName) => watchSecrets(source, { namespace: ns.name, secretName }, {
    onSecret: (_ns, name, data) => { if (name === 'h1') seen.push(data?.['v'] ?? 'gone') },
    onList: () => undefined,
  }, log))
  try {
    const synced = await Promise.race([Promise.all(watches.map((w) => w.synced)).then(() => true), sleep(30_000).then(() => false)])
    assert.ok(synced, `not listed within 30 s: ${logged.join('')}`)
    await putSecret('h1', { v: '2' })
    await kubeJson(kc, { method: 'DELETE', path: secrets('h1') })
    await until('updated and deleted by the watch', () => seen.at(-1) === 'gone')
    assert.deepEqual(seen, ['1', '2', 'gone'])
    assert.equal(forwarded.filter((u) => u.includes('watch=true')).length >= 2, true, forwarded.join('\n'))
    assert.equal(logged.length, 1, logged.join(''))
    assert.match(logged[0] ?? '', /HTTP\/2 refused: one connection per list and per watch from now on/)
  } finally {
    for (const w of watches) w.stop()
    source.close()
    proxy.closeAllConnections()
    await new Promise((resolve) => { proxy.close(resolve) })
  }
})
