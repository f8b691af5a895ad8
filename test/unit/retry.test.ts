// The retry policy on real thrown errors: client-node's ApiException, and the errors a real
// client-node request throws when nothing listens or the connection is cut.
import assert from 'node:assert/strict'
import { type AddressInfo, createServer } from 'node:net'
import { test } from 'node:test'

import { ApiException, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node'

import { apiFailure as failure } from '../../src/kube/api-failure.ts'
import { apiFailure } from '../../src/kube/api-failure.ts'
import { backoffDelay, deadlineOptions, isTransient, withRetry } from '../../src/kube/retry.ts'

function api (port: number): CustomObjectsApi {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'not-a-secret' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  })
  return kc.makeApiClient(CustomObjectsApi)
}

const list = (a: CustomObjectsApi): Promise<unknown> =>
  a.listClusterCustomObject({ group: 'networking.istio.io', version: 'v1', plural: 'serviceentries' })

async function closedPort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as AddressInfo
  await new Promise<void>((resolve) => srv.close(() => { resolve() }))
  return port
}

const status = (code: number, reason: string, headers: Record<string, string> = {}): ApiException<string> =>
  new ApiException(code, `HTTP ${code}`, JSON.stringify({ kind: 'Status', reason, message: `${reason} happened` }), headers)

test('API statuses: 409, 429 and 5xx (but 501) are transient; 4xx are not', () => {
  for (const code of [409, 429, 500, 502, 503, 504]) assert.ok(isTransient(status(code, 'X')), String(code))
  for (const code of [400, 401, 403, 404, 410, 422, 501]) assert.ok(!isTransient(status(code, 'X')), String(code))
  assert.ok(!isTransient(new Error('boom')))
  assert.ok(!isTransient(undefined))
})

test('connection refused, as client-node throws it, is transient; withRetry gives up at the deadline with that error', async () => {
  const a = api(await closedPort())
  const err = await list(a).then(() => undefined, (e: unknown) => e)
  assert.ok(isTransient(err), String(err))
  assert.match(failure(err).message, /^fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+$/)

  const retries: number[] = []
  const started = Date.now()
  await assert.rejects(
    withRetry(() => list(a), {
      deadline: started + 1500, baseDelayMs: 50, maxDelayMs: 200, onRetry: (_f, attempt) => retries.push(attempt),
    }),
    (e: unknown) => isTransient(e),
  )
  const elapsed = Date.now() - started
  assert.ok(retries.length >= 3, `retried ${retries.length} times`)
  assert.deepEqual(retries, retries.map((_, i) => i + 1))
  assert.ok(elapsed >= 1400 && elapsed < 1500 + 300, `gave up after ${elapsed} ms: the whole time is used, not more`)
})

test('a connection cut by the server, as client-node throws it, is transient', async () => {
  const srv = createServer((socket) => { socket.destroy() })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  try {
    const err = await list(api((srv.address() as AddressInfo).port)).then(() => undefined, (e: unknown) => e)
    assert.ok(err !== undefined)
    assert.ok(isTransient(err), failure(err).message)
  } finally {
    srv.close()
  }
})

test('deadlineOptions: a request the server accepts and never answers is aborted at the deadline', async () => {
  const silent = createServer(() => undefined) // accepts, never speaks (no TLS handshake either)
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  try {
    const a = api((silent.address() as AddressInfo).port)
    const started = Date.now()
    const err = await a.listClusterCustomObject({ group: 'networking.istio.io', version: 'v1', plural: 'serviceentries' }, deadlineOptions(started + 700))
      .then(() => undefined, (e: unknown) => e)
    const elapsed = Date.now() - started
    assert.ok(elapsed >= 650 && elapsed < 1500, `aborted after ${elapsed} ms`)
    assert.equal(failure(err).message, 'no answer from the API server before the deadline')
  } finally {
    silent.close()
  }
})

test('withRetry returns once the operation succeeds; a permanent error is thrown at once', async () => {
  let calls = 0
  const value = await withRetry(() => {
    calls++
    return calls < 3 ? Promise.reject(status(503, 'ServiceUnavailable')) : Promise.resolve('done')
  }, { deadline: Date.now() + 5000, baseDelayMs: 10 })
  assert.equal(value, 'done')
  assert.equal(calls, 3)

  calls = 0
  await assert.rejects(withRetry(() => { calls++; return Promise.reject(status(404, 'NotFound')) }, { deadline: Date.now() + 5000 }),
    (e: unknown) => apiFailure(e).reason === 'NotFound')
  assert.equal(calls, 1)
})

test('retryable and attempts: only the errors named are retried, and at most so many tries are made', async () => {
  const conflict = (err: unknown): boolean => apiFailure(err).code === 409
  let calls = 0
  const retries: string[] = []
  await assert.rejects(withRetry(() => { calls++; return Promise.reject(status(409, 'Conflict')) }, {
    deadline: Date.now() + 2000, attempts: 3, baseDelayMs: 0, retryable: conflict, onRetry: (f, attempt) => retries.push(`${attempt}: ${f.message}`),
  }), (e: unknown) => apiFailure(e).reason === 'Conflict')
  assert.equal(calls, 3)
  assert.deepEqual(retries, ['1: Conflict happened', '2: Conflict happened'])

  calls = 0
  await assert.rejects(withRetry(() => { calls++; return Promise.reject(status(503, 'ServiceUnavailable')) }, { deadline: Infinity, retryable: conflict }))
  assert.equal(calls, 1, 'a transient error the caller does not name is thrown at once')
})

test('429 with Retry-After waits at least that long', async () => {
  let calls = 0
  const started = Date.now()
  await withRetry(() => {
    calls++
    return calls === 1 ? Promise.reject(status(429, 'TooManyRequests', { 'retry-after': '1' })) : Promise.resolve()
  }, { deadline: Date.now() + 5000, baseDelayMs: 1 })
  // Node starts a timer from the event loop's time, cached when the loop's turn began: on a
  // busy machine a 1000 ms timer fires a little earlier than 1000 ms after the call by
  // Date.now() (a CI run saw 999 ms). Without Retry-After it would retry after 1 ms.
  const waited = Date.now() - started
  assert.ok(waited >= 950, `${waited} ms`)
  // ...unless the deadline comes first: then the error is thrown without waiting.
  const early = Date.now()
  await assert.rejects(withRetry(() => Promise.reject(status(429, 'TooManyRequests', { 'retry-after': '10' })), { deadline: Date.now() + 1000 }))
  assert.ok(Date.now() - early < 500)
})

test('backoff: exponential, capped, jittered below the cap', () => {
  const top = (): number => 0.999999
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 100, 2000, top)), [99, 199, 399, 799, 1599, 1999, 1999])
  assert.equal(backoffDelay(3, 100, 2000, () => 0), 0)
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(10, 100, 2000)
    assert.ok(d >= 0 && d < 2000)
  }
})
