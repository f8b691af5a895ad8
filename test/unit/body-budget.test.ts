// The body budget (src/server/body-budget.ts) on a real node:http server over loopback, the
// bodies framed by Node's own HTTP parser: by Content-Length in several chunks, chunked
// without one, cut short. What the webhook answers and counts for each refusal, over TLS, is
// test/integration/webhook-limits.test.ts.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import { type BodyBudget, BodyError, type BodyLimits, createBodyBudget, JOIN_BYTES, SMALL_BODY } from '../../src/server/body-budget.ts'

/** What `done` was given for one request, with the bytes the budget held while it ran. */
interface Outcome {
  readonly result: Buffer | BodyError
  /** The body as it was when handed over. */
  readonly text: string | undefined
  readonly heldInDone: number
  readonly ms: number
  readonly calls: () => number
}

interface Bench {
  readonly budget: BodyBudget
  readonly port: number
  /** The outcome of the next request the server receives. */
  readonly next: () => Promise<Outcome>
  readonly close: () => Promise<void>
}

/** A server whose requests are read by a budget of `limits`; `inDone` is called on each body in the callback. */
async function bench (limits: Partial<BodyLimits> = {}, inDone?: (body: Buffer) => void): Promise<Bench> {
  const budget = createBodyBudget({ bodyLimit: 64 * 1024, budget: 1024 * 1024, timeoutMs: 5000, ...limits })
  const waiting: ((o: Outcome) => void)[] = []
  const arrived: Outcome[] = []
  const server: Server = createServer((req: IncomingMessage, res) => {
    const started = performance.now()
    let calls = 0
    budget.read(req, (result) => {
      calls++
      const text = result instanceof Buffer ? result.toString() : undefined
      const outcome = { result, text, heldInDone: budget.held(), ms: performance.now() - started, calls: () => calls }
      if (result instanceof Buffer) inDone?.(result)
      const resolve = waiting.shift()
      if (resolve === undefined) arrived.push(outcome)
      else resolve(outcome)
      if (result instanceof BodyError) res.writeHead(result.statusCode, { connection: 'close' }).end()
      else res.end(String(result.length))
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  return {
    budget,
    port: address.port,
    next: () => {
      const first = arrived.shift()
      return first === undefined ? new Promise((resolve) => { waiting.push(resolve) }) : Promise.resolve(first)
    },
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}

async function connection (port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => undefined)
  await once(socket, 'connect')
  return socket
}

/** Sends `pieces` a few milliseconds apart, so that the server reads them as separate chunks. */
async function send (socket: Socket, pieces: readonly string[]): Promise<void> {
  for (const piece of pieces) {
    socket.write(piece)
    await sleep(15)
  }
}

function head (length?: number): string {
  const framing = length === undefined ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`
  return `POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n${framing}\r\n\r\n`
}

const chunk = (text: string): string => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`

function assertRefused (outcome: Outcome, reason: BodyError['reason']): void {
  assert.ok(outcome.result instanceof BodyError, `refused, not ${String(outcome.result)}`)
  assert.equal(outcome.result.reason, reason)
}

describe('the body budget', { concurrency: true, timeout: 20_000 }, () => {
  test('a body of several chunks (Content-Length) is handed over whole; its bytes are counted until the callback returns', async () => {
    const b = await bench()
    try {
      const body = `{"padding":"${'x'.repeat(30_000)}"}`
      const socket = await connection(b.port)
      await send(socket, [head(body.length), body.slice(0, 10_000), body.slice(10_000, 20_000), body.slice(20_000)])
      const outcome = await b.next()
      assert.ok(outcome.result instanceof Buffer)
      assert.equal(outcome.result.toString(), body)
      assert.equal(outcome.heldInDone, body.length, 'still counted while the caller parses and answers')
      assert.equal(b.budget.held(), 0, 'released once the callback returned')
      assert.equal(outcome.calls(), 1)
      socket.destroy()
    } finally { await b.close() }
  })

  test('bodies of several chunks are joined in one buffer kept for it, each whole though the one before was changed in place; one over JOIN_BYTES in a new one', async () => {
    const b = await bench({ bodyLimit: 1024 * 1024, budget: 4 * 1024 * 1024 }, (body) => { body.fill('#') })
    try {
      for (const [size, pieces, letter] of [[30_000, 3, 'a'], [10_000, 2, 'b'], [40_000, 4, 'c'], [JOIN_BYTES + 5000, 2, 'd'], [20_000, 2, 'e']] as const) {
        const body = `{"${letter}":"${letter.repeat(size - 8)}"}`
        const step = Math.ceil(body.length / pieces)
        const socket = await connection(b.port)
        await send(socket, [head(body.length), ...Array.from({ length: pieces }, (_, i) => body.slice(i * step, (i + 1) * step))])
        const outcome = await b.next()
        assert.equal(outcome.text, body, `the body of ${size} bytes`)
        assert.equal(b.budget.held(), 0)
        socket.destroy()
      }
    } finally { await b.close() }
  })

  test('a chunked body without Content-Length is read the same way; over the limit it is refused by the bytes received, and they are released', async () => {
    const b = await bench({ bodyLimit: 16 * 1024 })
    try {
      const body = `{"a":"${'y'.repeat(9000)}"}`
      const socket = await connection(b.port)
      await send(socket, [head(), chunk(body.slice(0, 4000)), chunk(body.slice(4000)), '0\r\n\r\n'])
      const outcome = await b.next()
      assert.ok(outcome.result instanceof Buffer)
      assert.equal(outcome.result.toString(), body)
      assert.equal(b.budget.held(), 0)

      const over = await connection(b.port)
      await send(over, [head(), chunk('z'.repeat(10_000))])
      assert.equal(b.budget.held(), 10_000, 'the first chunk is counted')
      await send(over, [chunk('z'.repeat(10_000))])
      const refused = await b.next()
      assertRefused(refused, 'payload_too_large')
      assert.equal(refused.heldInDone, 0, 'what was received is dropped before the callback')
      await send(over, [chunk('z'.repeat(1000)), '0\r\n\r\n'])
      assert.equal(b.budget.held(), 0, 'later chunks are not counted')
      assert.equal(refused.calls(), 1)
      socket.destroy()
      over.destroy()
    } finally { await b.close() }
  })

  test('a Content-Length over the limit is refused before any byte is read', async () => {
    const b = await bench({ bodyLimit: 1000 })
    try {
      const socket = await connection(b.port)
      socket.write(head(1001))
      const outcome = await b.next()
      assertRefused(outcome, 'payload_too_large')
      assert.equal(b.budget.held(), 0)
      socket.destroy()
    } finally { await b.close() }
  })

  for (const [how, cut] of [['a FIN', (s: Socket) => s.end()], ['a reset', (s: Socket) => s.resetAndDestroy()]] as const) {
    test(`fewer bytes than declared, then ${how}: refused once as client_closed, the bytes released`, async () => {
      const b = await bench()
      try {
        const socket = await connection(b.port)
        await send(socket, [head(5000), 'x'.repeat(3000)])
        assert.equal(b.budget.held(), 3000)
        cut(socket)
        const outcome = await b.next()
        assertRefused(outcome, 'client_closed')
        assert.equal(b.budget.held(), 0)
        await sleep(50)
        assert.equal(outcome.calls(), 1)
      } finally { await b.close() }
    })
  }

  test('the budget is shared; a small body passes on the reserve while it is spent, a large one is refused', async () => {
    const b = await bench({ budget: 300_000, bodyLimit: 1024 * 1024 })
    try {
      const large = await connection(b.port)
      await send(large, [head(400_000), 'x'.repeat(290_000)])
      const small = await connection(b.port)
      const body = 'y'.repeat(20_000)
      await send(small, [head(body.length), body])
      const passed = await b.next()
      assert.ok(passed.result instanceof Buffer)
      assert.equal(passed.heldInDone, 310_000)
      assert.ok(SMALL_BODY < 310_000)
      await send(large, ['x'.repeat(20_000)])
      assertRefused(await b.next(), 'body_budget')
      assert.equal(b.budget.held(), 0)
      large.destroy()
      small.destroy()
    } finally { await b.close() }
  })

  test('a body not received within the deadline is refused as request_timeout, no earlier, at most a tenth of it later; each pending body at its own, also once the timer stopped and started again', async () => {
    const timeoutMs = 400
    const b = await bench({ timeoutMs })
    try {
      const first = await connection(b.port)
      first.write(head(100) + 'x'.repeat(10))
      await sleep(150)
      const second = await connection(b.port)
      second.write(head(100) + 'x'.repeat(10))
      // Trickling does not move the deadline.
      const trickle = setInterval(() => { second.write('x') }, 40)
      const [a, c] = [await b.next(), await b.next()]
      clearInterval(trickle)
      for (const outcome of [a, c]) {
        assertRefused(outcome, 'request_timeout')
        assert.ok(outcome.ms >= timeoutMs - 1, `not before the deadline: ${outcome.ms} ms`)
        // A tenth of the deadline, with room for a loaded machine's late timers.
        assert.ok(outcome.ms < timeoutMs * 1.1 + 150, `soon after the deadline: ${outcome.ms} ms`)
      }
      assert.equal(b.budget.held(), 0)
      // Nothing pending: the sweep stops; a later body still has its deadline.
      await sleep(timeoutMs)
      const third = await connection(b.port)
      third.write(head(100) + 'x'.repeat(10))
      const late = await b.next()
      assertRefused(late, 'request_timeout')
      assert.ok(late.ms >= timeoutMs - 1 && late.ms < timeoutMs * 1.1 + 150, `${late.ms} ms`)
      for (const s of [first, second, third]) s.destroy()
    } finally { await b.close() }
  })
})
