// The plain-HTTP port (--metrics-listen): /metrics (Prometheus), /healthz (the process runs), /readyz
// (the webhook serves and is not shutting down). Never on the TLS port, so probes and
// scrapes need no certificate.
import { createServer, type Server, type ServerResponse } from 'node:http'

import type { Logger } from 'pino'
import type { Registry } from 'prom-client'

export interface MetricsPortOptions {
  readonly registry: Registry
  readonly ready: () => boolean
  readonly log: Logger
}

function text (res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

export function createMetricsPortServer ({ registry, ready, log }: MetricsPortOptions): Server {
  return createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') { text(res, 405, 'method not allowed\n'); return }
    const path = req.url?.split('?', 1)[0]
    switch (path) {
      case '/healthz': text(res, 200, 'ok\n'); return
      case '/readyz': if (ready()) text(res, 200, 'ok\n'); else text(res, 503, 'not ready\n'); return
      case '/metrics':
        registry.metrics().then(
          (body) => { text(res, 200, body, registry.contentType) },
          (err: unknown) => { log.error({ err }, 'metrics collection failed'); text(res, 500, 'metrics collection failed\n') },
        )
        return
      default: text(res, 404, 'not found\n')
    }
  })
}
