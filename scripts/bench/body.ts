// The body budget's own cost per request, in this process: (a)'s body (two chunks, as TLS
// records deliver it) read from a real IncomingMessage by src/server/body-budget.ts, against
// the floor's bare 'data'/'end' listeners and Buffer.concat (scripts/bench/floor.ts). Both
// include the same harness (the message, its chunks pushed, a promise per request), so the
// difference is the budget's; and what it leaves on a request (listeners, timers).
//
//   node scripts/bench/body.ts [--rounds 15]
import { IncomingMessage } from 'node:http'
import { parseArgs } from 'node:util'

import { BODY_BUDGET, BODY_LIMIT, BODY_TIMEOUT_MS, createBodyBudget } from '../../src/server/body-budget.ts'
import { labelledUpdate } from '../../test/support/reviews.ts'

const body = Buffer.from(JSON.stringify(labelledUpdate()))
const chunks = [body.subarray(0, 16 * 1024), body.subarray(16 * 1024)].map((c) => Buffer.from(c))
const budget = createBodyBudget({ bodyLimit: BODY_LIMIT, budget: BODY_BUDGET, timeoutMs: BODY_TIMEOUT_MS })

function message (): IncomingMessage {
  const req = new IncomingMessage(null as never)
  req.headers = { 'content-length': String(body.length) }
  return req
}

function arrive (req: IncomingMessage): void {
  for (const c of chunks) req.push(c)
  req.push(null)
}

function check (bytes: unknown): void {
  if (!(bytes instanceof Buffer) || bytes.length !== body.length) throw new Error('the body read is not the body sent')
}

const readers: Record<string, () => Promise<void>> = {
  floor: () => new Promise((resolve) => {
    const req = message()
    const list: Buffer[] = []
    req.on('data', (c: Buffer) => { list.push(c) }).on('end', () => { check(Buffer.concat(list)); resolve() })
    arrive(req)
  }),
  budget: () => new Promise((resolve) => {
    const req = message()
    budget.read(req, (bytes) => { check(bytes); resolve() })
    arrive(req)
  }),
}

/** CPU microseconds per read, 32 requests at a time. */
async function round (read: () => Promise<void>, n: number): Promise<number> {
  const started = process.cpuUsage()
  for (let i = 0; i < n; i += 32) await Promise.all(Array.from({ length: 32 }, read))
  const used = process.cpuUsage(started)
  return (used.user + used.system) / n
}

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' } } })
const rounds = Number(values.rounds)
for (const read of Object.values(readers)) await round(read, 20_000)
const figures: Record<string, number[]> = { floor: [], budget: [] }
for (let r = 0; r < rounds; r++) {
  for (const [name, read] of Object.entries(readers)) figures[name]?.push(await round(read, 8000))
}
for (const [name, xs] of Object.entries(figures)) {
  xs.sort((a, b) => a - b)
  console.log(`${name.padEnd(7)} ${xs[Math.floor(xs.length / 2)]?.toFixed(2)} µs per read (median of ${rounds} rounds; min ${xs[0]?.toFixed(2)}, max ${xs.at(-1)?.toFixed(2)})`)
}
const req = message()
budget.read(req, () => undefined)
console.log(`listeners a read leaves on the request: ${req.eventNames().map((e) => `${String(e)} ${req.listenerCount(e)}`).join(', ')}`)
arrive(req)
