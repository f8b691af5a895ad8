// The part of autocannon's programmatic API the benchmark and the fault tests use
// (autocannon ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'
  import type { ConnectionOptions } from 'node:tls'

  namespace autocannon {
    interface Request {
      method?: string
      path?: string
      headers?: Record<string, string>
      body?: string | Buffer
    }
    interface Options {
      url: string
      connections?: number
      pipelining?: number
      /** Seconds. */
      duration?: number
      amount?: number
      /** Requests per second over all connections. */
      overallRate?: number
      /** Seconds before a request times out. */
      timeout?: number
      method?: string
      headers?: Record<string, string>
      body?: string | Buffer
      requests?: Request[]
      tlsOptions?: ConnectionOptions
      title?: string
    }
    interface Histogram {
      average: number
      mean: number
      stddev: number
      min: number
      max: number
      p50: number
      p90: number
      p99: number
      p99_9: number
    }
    interface Result {
      title?: string
      url: string
      duration: number
      latency: Histogram
      requests: Histogram
      throughput: Histogram
      errors: number
      timeouts: number
      mismatches: number
      non2xx: number
      resets: number
      totalCompletedRequests: number
      totalRequests: number
      statusCodeStats: Record<string, { count: number }>
      '2xx': number
      '4xx': number
      '5xx': number
    }
    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop: () => void
      on: ((event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void) => this) &
        ((event: 'reqError', listener: (err: Error) => void) => this) &
        ((event: 'done', listener: (result: Result) => void) => this)
    }
  }

  function autocannon (options: autocannon.Options): autocannon.Instance

  export default autocannon
}
