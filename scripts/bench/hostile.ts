// Hostile reviews at once (issue 11, "Bounded work per review"): several AdmissionReviews
// carrying ~3 MiB annotation values (deep nesting, huge lists) sent together over warm
// keep-alive connections. Measures how much the webhook's memory rises (peak RSS, from a
// reset VmHWM, over the RSS before; V8's heap before and after, from /metrics) and how long
// each review waits for its answer. Figures only: the benchmark prints, never asserts.
import { readFile, writeFile } from 'node:fs/promises'
import { connect, type TLSSocket } from 'node:tls'

import { httpGet, metricSum } from '../../test/support/metrics-port.ts'
import { answerProblem, keepAliveAgent, post } from '../../test/support/review-client.ts'
import { labelledUpdate } from '../../test/support/reviews.ts'
import { type Listening, procStatusBytes } from '../../test/support/serve.ts'

export interface HostileBatch {
  /** Milliseconds from sending each review to its whole answer, in sending order. */
  readonly latenciesMs: readonly number[]
  /** How each was answered: `denied: <message>`, `allowed ...`, or what is wrong with it. */
  readonly answers: readonly string[]
  readonly rssBefore: number
  /** Peak RSS during the batch (VmHWM after resetting it), or NaN when it cannot be reset. */
  readonly peakRss: number
  readonly heapUsedBefore: number
  readonly heapUsedAfter: number
  readonly heapTotalBefore: number
  readonly heapTotalAfter: number
  /** Server CPU milliseconds (user + system) over the batch, per review. */
  readonly cpuMsPerReview: number
  /** Mean of egress_mtls_admission_duration_seconds over the batch (body parsed to answer sent), ms. */
  readonly serverMsPerReview: number
}

async function heap (s: Listening): Promise<{ used: number, total: number, durationSum: number, durationCount: number, cpu: number }> {
  // The floor server has no /metrics: its heap and admission figures are NaN.
  const text = s.metrics === undefined ? undefined : (await httpGet(s.metrics, '/metrics')).body
  const sum = (name: string): number => text === undefined ? Number.NaN : metricSum(text, name)
  return {
    used: sum('nodejs_heap_size_used_bytes'),
    total: sum('nodejs_heap_size_total_bytes'),
    durationSum: sum('egress_mtls_admission_duration_seconds_sum'),
    durationCount: sum('egress_mtls_admission_duration_seconds_count'),
    cpu: await cpuSeconds(s.pid),
  }
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (clock ticks of 1/100 s). */
async function cpuSeconds (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** Resets the peak RSS (VmHWM) of a process: `echo 5 > /proc/PID/clear_refs` (Linux ≥ 4.0). */
async function resetPeakRss (pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

function describe (body: string, status: number, text: string): string {
  const problem = answerProblem(body, { status, headers: {}, body: text })
  if (problem !== undefined) return `WRONG: ${problem}`
  interface Answer { allowed: boolean, patch?: string, status?: { message: string }, warnings?: string[] }
  const response = (JSON.parse(text) as { response: Answer }).response
  if (!response.allowed) return `denied: ${response.status?.message.slice(0, 160) ?? ''}`
  return `allowed, ${response.patch === undefined ? 'no patch' : 'patched'}${response.warnings === undefined ? '' : `, warning: ${response.warnings.join('; ').slice(0, 160)}`}`
}

/** Sends `bodies` at once, one connection each (warmed up first with an ordinary review). */
export async function hostileBatch (s: Listening, ca: string, bodies: readonly string[]): Promise<HostileBatch> {
  const agent = keepAliveAgent(ca, bodies.length)
  try {
    const ordinary = JSON.stringify(labelledUpdate())
    await Promise.all(bodies.map(() => post(agent, s.https, ordinary)))
    await new Promise((resolve) => setTimeout(resolve, 200))
    const before = await heap(s)
    const rssBefore = (await procStatusBytes(s.pid, 'VmRSS')) ?? Number.NaN
    const reset = await resetPeakRss(s.pid)
    const started = performance.now()
    // Answers are checked once all are in: checking parses each 3 MB body, which would
    // hold up this process while the other answers arrive.
    const answered = await Promise.all(bodies.map(async (body) => {
      const answer = await post(agent, s.https, body)
      return { ms: performance.now() - started, answer }
    }))
    const peakRss = reset ? (await procStatusBytes(s.pid, 'VmHWM')) ?? Number.NaN : Number.NaN
    const after = await heap(s)
    return {
      latenciesMs: answered.map((a) => a.ms),
      answers: answered.map((a, i) => describe(bodies[i]!, a.answer.status, a.answer.body)),
      rssBefore,
      peakRss,
      heapUsedBefore: before.used,
      heapUsedAfter: after.used,
      heapTotalBefore: before.total,
      heapTotalAfter: after.total,
      cpuMsPerReview: ((after.cpu - before.cpu) * 1000) / bodies.length,
      serverMsPerReview: ((after.durationSum - before.durationSum) * 1000) / (after.durationCount - before.durationCount),
    }
  } finally {
    agent.destroy()
  }
}

export interface HeldBodies {
  readonly rssBefore: number
  /** Peak RSS while the bodies were held (VmHWM after resetting it), or NaN. */
  readonly peakRss: number
  /** How each connection was answered while holding its body: `503`, `408`, ... or `held` (no answer yet). */
  readonly answers: Readonly<Record<string, number>>
  /** An ordinary review sent while the bodies were held: its status and milliseconds. */
  readonly ordinary: { readonly status: number, readonly ms: number }
}

/**
 * Issue 25, "Buffered bodies": `count` TLS connections each send a review's headers and
 * all but the last byte of its `bytes`-long body, and hold it. Measures the webhook's
 * memory rise and how the connections were answered (503 beyond the budget for bodies in
 * flight), and whether an ordinary review still gets through meanwhile.
 */
export async function heldBodies (s: Listening, ca: string, count: number, bytes: number, holdMs = 2000): Promise<HeldBodies> {
  const review = labelledUpdate('held')
  const metadata = ((review['request'] as Record<string, unknown>)['object'] as { metadata: { annotations: Record<string, string> } }).metadata
  metadata.annotations['example.com/padding'] = ''
  metadata.annotations['example.com/padding'] = 'x'.repeat(Math.max(0, bytes - JSON.stringify(review).length))
  const body = JSON.stringify(review)
  const rssBefore = (await procStatusBytes(s.pid, 'VmRSS')) ?? Number.NaN
  const reset = await resetPeakRss(s.pid)
  const answers: Record<string, number> = {}
  interface Held { socket: TLSSocket, answer: Promise<string> }
  const sockets = await Promise.all(Array.from({ length: count }, () => new Promise<Held>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: s.https, ca, servername: 'localhost' }, () => {
      socket.write(`POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`)
      socket.write(body.slice(0, -1))
      let received = ''
      const answer = new Promise<string>((done) => {
        socket.setEncoding('utf8').on('data', (c: string) => { received += c; done(/^HTTP\/1\.1 (\d+)/.exec(received)?.[1] ?? 'other') })
        socket.on('close', () => { done(/^HTTP\/1\.1 (\d+)/.exec(received)?.[1] ?? 'closed') })
      })
      resolve({ socket, answer })
    })
    socket.once('error', reject)
  })))
  const agent = keepAliveAgent(ca, 1)
  const started = performance.now()
  const timed = (status: number): { status: number, ms: number } => ({ status, ms: performance.now() - started })
  const ordinary = await post(agent, s.https, JSON.stringify(labelledUpdate())).then((a) => timed(a.status), () => timed(0))
  agent.destroy()
  await new Promise((resolve) => setTimeout(resolve, holdMs))
  const peakRss = reset ? (await procStatusBytes(s.pid, 'VmHWM')) ?? Number.NaN : Number.NaN
  for (const { answer } of sockets) {
    const status = await Promise.race([answer, Promise.resolve('held')])
    answers[status] = (answers[status] ?? 0) + 1
  }
  for (const { socket } of sockets) socket.destroy()
  return { rssBefore, peakRss, answers, ordinary }
}
