// `egress-mtls serve` as a real process: on SIGTERM it turns unready, stops accepting,
// closes idle keep-alive connections at once, answers every in-flight review (with
// `Connection: close`) and exits 0. It never loads certificate generation or the Kubernetes
// client unless --self-signed asks for the former.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { Agent } from 'node:https'
import { createConnection } from 'node:net'
import { resolve } from 'node:path'
import { before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect } from 'node:tls'

import { httpGet } from '../support/metrics-port.ts'
import { type PodFiles, serveFiles } from '../support/serve-files.ts'
import { deploymentReview, post } from '../support/webhook.ts'

const root = resolve(import.meta.dirname, '..', '..')

// Reports on stderr every module of selfsigned or @kubernetes/client-node that gets loaded.
const LOAD_SPY = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module'
registerHooks({ load (url, context, next) {
  if (/node_modules\\/(selfsigned|@kubernetes\\/client-node)\\//.test(url)) process.stderr.write('LOADED ' + url + '\\n')
  return next(url, context)
} })`)}`

interface Cli {
  readonly child: ChildProcess
  readonly port: number
  readonly metricsPort: number
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exit: Promise<number | null>
}

async function startCli (args: readonly string[]): Promise<Cli> {
  const child = spawn(process.execPath, ['--import', LOAD_SPY, 'src/cli/main.ts', 'serve', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', ...args], {
    cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EGRESS_MTLS_CONFIG: '' },
  })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c })
  const exit = once(child, 'exit').then(([code]) => code as number | null)
  const deadline = Date.now() + 60_000 // a loaded machine took 5 s to make the --self-signed key
  for (;;) {
    const line = out.split('\n').find((l) => l.includes('"msg":"listening"'))
    if (line !== undefined) {
      const { https, metrics } = JSON.parse(line) as { https: number, metrics: number }
      return { child, port: https, metricsPort: metrics, stdout: () => out, stderr: () => err, exit }
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`serve did not start (exit ${child.exitCode}):\n${out}\n${err}`)
    }
    await sleep(20)
  }
}

async function waitForLine (cli: Cli, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!pattern.test(cli.stdout())) {
    if (cli.child.exitCode !== null || Date.now() > deadline) throw new Error(`no line matching ${String(pattern)}:\n${cli.stdout()}`)
    await sleep(10)
  }
}

interface Held {
  /** Resolves once the server has read the request's headers (its `100 Continue`). */
  readonly started: Promise<void>
  /** Sends the rest of the body; resolves with the answer. */
  finish: () => Promise<{ status: number, headers: string, body: string }>
}

/** A review the server is in the middle of receiving. */
function heldReview (port: number, ca: string, uid: string): Held {
  const body = Buffer.from(JSON.stringify(deploymentReview(uid)))
  const half = body.length >> 1
  let raw = ''
  let onData = (): void => undefined
  const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
    socket.write(`POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`)
    socket.write(body.subarray(0, half))
  })
  socket.setEncoding('utf8')
  socket.on('data', (c: string) => { raw += c; onData() })
  const wait = (ready: () => boolean): Promise<void> => new Promise((resolve, reject) => {
    onData = () => { if (ready()) resolve() }
    socket.once('error', reject)
    socket.once('close', () => { if (ready()) resolve(); else reject(new Error(`connection closed; got ${JSON.stringify(raw)}`)) })
    onData()
  })
  const started = wait(() => raw.startsWith('HTTP/1.1 100 Continue\r\n\r\n'))
  return {
    started,
    async finish () {
      socket.write(body.subarray(half))
      const text = (): string => raw.replace('HTTP/1.1 100 Continue\r\n\r\n', '')
      const answer = (): { status: number, headers: string, body: string } | undefined => {
        const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(text())
        const length = Number(/content-length: (\d+)/i.exec(m?.[2] ?? '')?.[1])
        const rest = text().slice(m?.[0].length)
        return m === null || rest.length < length ? undefined : { status: Number(m[1]), headers: m[2]!.toLowerCase(), body: rest }
      }
      await wait(() => answer() !== undefined)
      return answer()!
    },
  }
}

let pki: PodFiles
before(async () => { pki = await serveFiles() })

// Three processes of their own: run side by side.
describe('egress-mtls serve', { concurrency: true }, () => {
  test('SIGTERM: unready, no new connections, idle ones closed at once, in-flight reviews answered, exit 0', async () => {
    const cli = await startCli(pki.args)
    const ca = pki.ca.cert
    try {
      // An idle keep-alive connection, as kube-apiserver keeps them.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 })
      const first = await post(cli.port, JSON.stringify(deploymentReview()), { ca, agent })
      assert.equal(first.status, 200)
      const idle = Object.values(agent.freeSockets).flat()[0]
      assert.ok(idle !== undefined, 'an idle keep-alive socket')
      const idleClosed = once(idle, 'close')

      const held = ['in-flight-1', 'in-flight-2', 'in-flight-3'].map((uid) => heldReview(cli.port, ca, uid))
      await Promise.all(held.map((h) => h.started))
      assert.equal((await httpGet(cli.metricsPort, '/readyz')).status, 200)

      const signalled = performance.now()
      cli.child.kill('SIGTERM')
      await idleClosed
      const idleMs = performance.now() - signalled
      assert.ok(idleMs < 2000, `idle connection closed after ${idleMs} ms`)
      agent.destroy()

      assert.equal((await httpGet(cli.metricsPort, '/readyz')).status, 503, 'not ready while draining')
      assert.equal((await httpGet(cli.metricsPort, '/healthz')).status, 200, 'alive while draining')
      await assert.rejects(post(cli.port, JSON.stringify(deploymentReview()), { ca }), { code: 'ECONNREFUSED' })
      assert.equal(cli.child.exitCode, null, 'still running while reviews are in flight')

      const answers = await Promise.all(held.map((h) => h.finish()))
      answers.forEach((a, i) => {
        assert.equal(a.status, 200)
        assert.match(a.headers, /^connection: close$/m)
        assert.equal((JSON.parse(a.body) as { response: { uid: string } }).response.uid, `in-flight-${i + 1}`)
      })
      assert.equal(await cli.exit, 0)
      assert.match(cli.stdout(), /"msg":"stopped"/)
      assert.equal(cli.stderr(), '', 'serve with certificate files loads neither selfsigned nor the Kubernetes client')
    } finally {
      cli.child.kill('SIGKILL')
    }
  })

  test('SIGINT with nothing in flight exits 0 at once; --self-signed serves its in-memory certificate', async () => {
    const configArg = pki.args.slice(-2)
    const cli = await startCli(['--self-signed', ...configArg])
    try {
      const res = await post(cli.port, JSON.stringify(deploymentReview('self-signed-uid')), { ca: await selfSignedPem(cli.port) })
      assert.equal(res.status, 200)
      // The spy does see selfsigned when it is used: its silence above means something.
      assert.match(cli.stderr(), /LOADED .*node_modules\/selfsigned\//)
      assert.doesNotMatch(cli.stderr(), /client-node/)
      const signalled = performance.now()
      cli.child.kill('SIGINT')
      assert.equal(await cli.exit, 0)
      assert.ok(performance.now() - signalled < 5000, 'well within the 25 s grace period')
    } finally {
      cli.child.kill('SIGKILL')
    }
  })

  test('SIGTERM: a TCP connection that never sent a ClientHello, and a TLS one that never sent a request, are closed at once; exit 0', async () => {
    const cli = await startCli(pki.args)
    try {
      // Without a ClientHello, the socket is no HTTP connection yet: server.close() would
      // wait for it until the TLS handshake timeout (5 s; Node's default was 120 s).
      const silent = createConnection(cli.port, '127.0.0.1')
      await once(silent, 'connect')
      const quiet = connect({ host: '127.0.0.1', port: cli.port, ca: pki.ca.cert, servername: 'localhost' })
      await once(quiet, 'secureConnect')
      // Destroyed by the server: each sees a reset or an end.
      for (const socket of [silent, quiet]) socket.on('error', () => undefined)
      const closed = Promise.all([new Promise((resolve) => silent.once('close', resolve)), new Promise((resolve) => quiet.once('close', resolve))])
      const signalled = performance.now()
      cli.child.kill('SIGTERM')
      const code = await Promise.race([cli.exit, sleep(4000, 'still running after 4 s')])
      assert.equal(code, 0)
      await closed
      const ms = performance.now() - signalled
      assert.ok(ms < 2000, `exited ${Math.round(ms)} ms after SIGTERM`)
    } finally {
      cli.child.kill('SIGKILL')
    }
  })

  test('--shutdown-delay: unready at once, yet accepting and answering, each answer ending its connection, nothing cut; then the drain', async () => {
    const delayMs = 6000 // room for the steps below on a loaded machine
    const cli = await startCli([...pki.args, '--shutdown-delay', `${delayMs}ms`])
    const ca = pki.ca.cert
    try {
      // Two idle keep-alive connections, as kube-apiserver pools them: one is used during
      // the delay, one stays idle through it.
      const used = new Agent({ keepAlive: true, maxSockets: 1 })
      const untouched = new Agent({ keepAlive: true, maxSockets: 1 })
      for (const agent of [used, untouched]) {
        assert.equal((await post(cli.port, JSON.stringify(deploymentReview()), { ca, agent })).status, 200)
      }
      const idle = Object.values(untouched.freeSockets).flat()[0]
      assert.ok(idle !== undefined, 'an idle keep-alive socket')
      let idleClosedAt: number | undefined
      idle.once('close', () => { idleClosedAt = performance.now() })
      const idleClosed = (): number | undefined => idleClosedAt

      const signalled = performance.now()
      cli.child.kill('SIGTERM')
      await waitForLine(cli, /shutdown delay/)
      assert.equal((await httpGet(cli.metricsPort, '/readyz')).status, 503, 'not ready from the signal on')
      const reused = await post(cli.port, JSON.stringify(deploymentReview('pooled')), { ca, agent: used })
      assert.equal(reused.status, 200)
      assert.ok(reused.reusedSocket, 'the pooled connection was still open')
      assert.equal(reused.headers.connection, 'close', 'its answer ends it')
      const fresh = await post(cli.port, JSON.stringify(deploymentReview('fresh')), { ca })
      assert.equal(fresh.status, 200, 'a new connection is still accepted')
      assert.equal(fresh.headers.connection, 'close')
      assert.equal(idleClosed(), undefined, 'no idle connection is cut during the delay')
      used.destroy()

      assert.equal(await cli.exit, 0)
      const closedAfter = (idleClosed() ?? NaN) - signalled
      assert.ok(closedAfter >= delayMs - 50, `the idle connection was closed ${Math.round(closedAfter)} ms after SIGTERM, not after the ${delayMs} ms delay`)
      const lines = cli.stdout()
      assert.ok(lines.indexOf('shutdown delay') < lines.indexOf('finishing in-flight reviews'), 'the drain follows the delay')
      untouched.destroy()
    } finally {
      cli.child.kill('SIGKILL')
    }
  })

  test('a second signal during the shutdown delay ends it: the drain begins and the process exits 0', async () => {
    const cli = await startCli([...pki.args, '--shutdown-delay', '10m'])
    try {
      cli.child.kill('SIGTERM')
      await waitForLine(cli, /shutdown delay/)
      cli.child.kill('SIGTERM')
      assert.equal(await Promise.race([cli.exit, sleep(10_000, 'still running 10 s after the second signal')]), 0)
      assert.match(cli.stdout(), /finishing in-flight reviews/)
    } finally {
      cli.child.kill('SIGKILL')
    }
  })

  test('a second signal cuts the reviews still in flight and exits 0 without waiting for the grace period', async () => {
    const cli = await startCli(pki.args)
    try {
      const held = heldReview(cli.port, pki.ca.cert, 'stuck')
      await held.started
      cli.child.kill('SIGTERM')
      await sleep(200)
      assert.equal(cli.child.exitCode, null, 'waits for the in-flight review')
      cli.child.kill('SIGTERM')
      assert.equal(await cli.exit, 0)
      assert.match(cli.stdout(), /second signal/)
    } finally {
      cli.child.kill('SIGKILL')
    }
  })
})

/** The PEM of the certificate a server presents (for trusting a self-signed one). */
function selfSignedPem (port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const pem = new X509Certificate(socket.getPeerCertificate().raw).toString()
      socket.destroy()
      resolve(pem)
    })
    socket.on('error', reject)
  })
}
