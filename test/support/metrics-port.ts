// The metrics port (`--metrics-listen`) as tests and the benchmark read it: a plain GET,
// the scrape, and samples of the Prometheus text.
import { request } from 'node:http'

/** GET a path of the plain-HTTP metrics port (127.0.0.1), failing after 5 s. */
export function httpGet (port: number, path: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timeout`))).on('error', reject).end()
  })
}

/** /metrics, which must answer 200. */
export async function scrape (metricsPort: number): Promise<string> {
  const { status, body } = await httpGet(metricsPort, '/metrics')
  if (status !== 200) throw new Error(`/metrics answered ${status}`)
  return body
}

/** The samples of one metric: each series' labels (values as written) and value. */
function series (text: string, name: string): { labels: Map<string, string>, value: number }[] {
  const out: { labels: Map<string, string>, value: number }[] = []
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line)
    if (m?.[1] !== name) continue
    const labels = new Map<string, string>()
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels.set(l[1]!, l[2]!)
    out.push({ labels, value: Number(m[4]) })
  }
  return out
}

const has = (have: ReadonlyMap<string, string>, labels: Readonly<Record<string, string>>): boolean =>
  Object.entries(labels).every(([k, v]) => have.get(k) === v)

/** The value of the one series whose labels are exactly `labels`, or undefined. */
export function sample (text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  return series(text, name).find((s) => s.labels.size === Object.keys(labels).length && has(s.labels, labels))?.value
}

/**
 * The sum over the series whose labels include `labels`
 * (e.g. metricSum(text, 'egress_mtls_config_reloads_total', { result: 'failure' })).
 */
export function metricSum (text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  return series(text, name).filter((s) => has(s.labels, labels)).reduce((sum, s) => sum + s.value, 0)
}
