// An open-loop load: reviews sent at a steady rate, evenly spread over keep-alive
// connections, whatever the answers' latency (autocannon's rate limit sends each second's
// quota in one burst, which measures the burst, not the latency at that rate).
import { setTimeout as sleep } from 'node:timers/promises'

import { keepAliveAgent, post } from '../../test/support/review-client.ts'

export interface PacedResult {
  /** Milliseconds from sending a review to its whole answer, for 200 answers. */
  readonly latencies: number[]
  readonly completed: number
  readonly failed: number
  /** Reviews sent later than planned because the connection still awaited an answer. */
  readonly late: number
  readonly seconds: number
}

export async function paced (
  port: number, ca: string, bodies: readonly string[], connections: number, rate: number, seconds: number,
): Promise<PacedResult> {
  const interval = (connections / rate) * 1000
  const perConnection = Math.max(1, Math.round((seconds * 1000) / interval))
  const latencies: number[] = []
  let completed = 0
  let failed = 0
  let late = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: connections }, async (_, c) => {
    const agent = keepAliveAgent(ca, 1)
    try {
      // Connections start spread over one interval, so that sends never line up.
      const first = started + (c * interval) / connections
      for (let i = 0; i < perConnection; i++) {
        const due = first + i * interval
        const wait = due - performance.now()
        if (wait > 0) await sleep(wait)
        else if (i > 0 && wait < -interval / 2) late++
        const body = bodies[(c + i) % bodies.length]!
        const sent = performance.now()
        try {
          const answer = await post(agent, port, body)
          if (answer.status === 200) { completed++; latencies.push(performance.now() - sent) } else failed++
        } catch {
          failed++
        }
      }
    } finally {
      agent.destroy()
    }
  }))
  return { latencies, completed, failed, late, seconds: (performance.now() - started) / 1000 }
}
