// npm run bench: egress-mtls serve beside a floor server (bare node:https + JSON.parse),
// loaded alternately with the same realistic AdmissionReviews over TLS keep-alive
// (HTTP/1.1, 32 connections, autocannon), so machine noise hits both alike.
// Prints requests/s, p50/p99 latency, the webhook/floor ratio and the webhook's peak RSS
// next to the targets of issue 7. Figures are measured, not asserted.
//
//   node scripts/bench.ts [--duration 3] [--rounds 3] [--connections 32] [--only a,b,c]
//                         [--profile]   (CPU profile of the webhook; prints its hot spots)
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { answerProblem, keepAliveAgent, post } from './bench/client.ts'
import { hotSpots } from './bench/profile.ts'
import { procStatusBytes, repoRoot, startFloor, startServe, type Listening, type ServeFiles } from './bench/processes.ts'
import { BENCH_CONFIG, scenarios, type Scenario } from './bench/reviews.ts'
import { makeCa, makeServing, writeServingSecret, type Pem } from './bench/tls.ts'

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    only: { type: 'string', default: 'a,b,c' },
    profile: { type: 'boolean', default: false },
    'startup-runs': { type: 'string', default: '5' },
  },
})
const DURATION = Number(flags.duration)
const ROUNDS = Number(flags.rounds)
const CONNECTIONS = Number(flags.connections)
const ONLY = new Set(flags.only.split(','))
const MB = 1024 * 1024

interface Sample {
  completed: number
  seconds: number
  latencies: number[]
  errors: number
  non2xx: number
}
const emptySample = (): Sample => ({ completed: 0, seconds: 0, latencies: [], errors: 0, non2xx: 0 })

/** One autocannon run; latencies come from each response (sub-millisecond resolution). */
async function load (port: number, ca: string, bodies: readonly string[], connections: number, seconds: number, into: Sample): Promise<number> {
  const instance = autocannon({
    url: `https://127.0.0.1:${port}`,
    connections,
    pipelining: 1,
    duration: seconds,
    timeout: 30,
    tlsOptions: { ca },
    requests: bodies.map((body) => ({ method: 'POST', path: '/mutate', headers: { 'content-type': 'application/json' }, body })),
  })
  const latencies: number[] = []
  instance.on('response', (_client, statusCode, _bytes, responseTime) => { if (statusCode === 200) latencies.push(responseTime) })
  const result = await instance
  into.completed += result['2xx']
  into.seconds += result.duration
  into.errors += result.errors + result.timeouts
  into.non2xx += result.non2xx
  for (const l of latencies) into.latencies.push(l)
  return result['2xx'] / result.duration
}

function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

interface Row {
  readonly label: string
  readonly server: 'webhook' | 'floor'
  readonly connections: number
  readonly rps: number
  readonly p50: number
  readonly p99: number
  readonly errors: number
  readonly non2xx: number
  readonly roundRps: readonly number[]
}

function row (label: string, server: 'webhook' | 'floor', connections: number, s: Sample, roundRps: number[]): Row {
  const sorted = s.latencies.sort((a, b) => a - b)
  return { label, server, connections, rps: s.completed / s.seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), errors: s.errors, non2xx: s.non2xx, roundRps }
}

/** Alternates floor and webhook round by round (ABBA order), after a warm-up of each. */
async function compare (webhook: Listening, floor: Listening, ca: string, sc: Scenario, connections: number): Promise<[Row, Row]> {
  const bodies = sc.bodies
  const warm = emptySample()
  await load(floor.https, ca, bodies, connections, 1, warm)
  await load(webhook.https, ca, bodies, connections, 1, warm)
  const w = emptySample()
  const f = emptySample()
  const wr: number[] = []
  const fr: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      fr.push(await load(floor.https, ca, bodies, connections, DURATION, f))
      wr.push(await load(webhook.https, ca, bodies, connections, DURATION, w))
    } else {
      wr.push(await load(webhook.https, ca, bodies, connections, DURATION, w))
      fr.push(await load(floor.https, ca, bodies, connections, DURATION, f))
    }
  }
  const label = `(${sc.id}) ${(Buffer.byteLength(bodies[0]!) / 1024).toFixed(0)} KiB`
  return [row(label, 'webhook', connections, w, wr), row(label, 'floor', connections, f, fr)]
}

/** One request of each scenario to each server, checked as the fuzz test checks answers. */
async function sanity (port: number, ca: string, sc: Scenario): Promise<string> {
  const agent = keepAliveAgent(ca, 1)
  try {
    const body = sc.bodies[0]!
    const answer = await post(agent, port, body)
    const problem = answerProblem(body, answer)
    if (problem !== undefined) return `WRONG: ${problem}`
    const response = (JSON.parse(answer.body) as { response: { patch?: string, allowed: boolean } }).response
    const got = response.patch === undefined ? 'no patch' : `patch of ${(JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as unknown[]).length} ops`
    const want = sc.expect === 'injected' ? 'a patch' : 'no patch'
    const ok = (sc.expect === 'injected') === (response.patch !== undefined)
    return `${ok ? 'ok' : 'UNEXPECTED'}: allowed=${String(response.allowed)}, ${got} (expected ${want})`
  } finally {
    agent.destroy()
  }
}

async function startupTimes (files: ServeFiles, runs: number): Promise<{ serve: number[], floor: number[] }> {
  const serve: number[] = []
  const floor: number[] = []
  for (let i = 0; i < runs; i++) {
    const s = await startServe(files)
    serve.push(s.startupMs)
    await s.stop()
    const f = await startFloor(files.cert, files.key)
    floor.push(f.startupMs)
    await f.stop()
  }
  return { serve, floor }
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
const fmt = (n: number, digits = 1): string => Number.isFinite(n) ? n.toFixed(digits) : '-'
const pad = (s: string, n: number): string => s.length >= n ? s : s + ' '.repeat(n - s.length)
const lpad = (s: string, n: number): string => s.length >= n ? s : ' '.repeat(n - s.length) + s
const verdict = (ok: boolean): string => ok ? 'met' : 'MISSED'

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'egress-mtls-bench-'))
  let webhook: Listening | undefined
  let floor: Listening | undefined
  try {
    const ca: Pem = await makeCa()
    const tls = await writeServingSecret(join(dir, 'tls'), await makeServing(ca), ca)
    const files: ServeFiles = { config: join(dir, 'config.yaml'), ...tls }
    await writeFile(files.config, BENCH_CONFIG)
    const all = scenarios(8)
    const selected = all.filter((s) => ONLY.has(s.id))

    process.stdout.write(`egress-mtls benchmark: Node ${process.version}, ${String((await import('node:os')).availableParallelism())} cores, ` +
      `${CONNECTIONS} connections, HTTP/1.1 keep-alive over TLS 1.3 (EC P-256), ${ROUNDS} rounds x ${DURATION}s per server, floor and webhook interleaved\n\n`)

    const startup = await startupTimes(files, Number(flags['startup-runs']))
    const profDir = join(dir, 'profile')
    webhook = await startServe(files, flags.profile ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {})
    floor = await startFloor(files.cert, files.key)

    process.stdout.write('answers (one request of each, checked like the fuzz test does):\n')
    for (const sc of all) {
      process.stdout.write(`  (${sc.id}) ${sc.title}: webhook ${await sanity(webhook.https, ca.cert, sc)}; floor ${(await sanity(floor.https, ca.cert, { ...sc, expect: 'skipped' })).replace(/ \(expected.*$/, '')}\n`)
    }
    process.stdout.write('\n')

    const rows: [Row, Row][] = []
    // VmHWM only grows: read after each scenario, in order, it is the peak so far.
    const peaks: string[] = []
    for (const sc of selected) {
      // (c) with 32 connections measures queueing behind 1 MB parses; its per-review
      // latency target is read at 1 connection.
      const bodies = sc.id === 'c' ? { ...sc, bodies: sc.bodies.slice(0, 2) } : sc
      rows.push(await compare(webhook, floor, ca.cert, bodies, CONNECTIONS))
      if (sc.id === 'c') rows.push(await compare(webhook, floor, ca.cert, bodies, 1))
      const w = await procStatusBytes(webhook.pid, 'VmHWM')
      const f = await procStatusBytes(floor.pid, 'VmHWM')
      peaks.push(`after (${sc.id}) ${fmt((w ?? Number.NaN) / MB, 1)} MB (floor ${fmt((f ?? Number.NaN) / MB, 1)} MB)`)
    }
    const peakRss = await procStatusBytes(webhook.pid, 'VmHWM')
    const floorRss = await procStatusBytes(floor.pid, 'VmHWM')

    const header = `${pad('request', 14)} ${pad('server', 8)} ${lpad('conns', 5)} ${lpad('req/s', 9)} ${lpad('p50 ms', 8)} ${lpad('p99 ms', 8)} ${lpad('errors', 7)} ${lpad('non-2xx', 8)}  req/s per round`
    process.stdout.write(`${header}\n${'-'.repeat(header.length + 12)}\n`)
    for (const pair of rows) {
      for (const r of pair) {
        process.stdout.write(`${pad(r.label, 14)} ${pad(r.server, 8)} ${lpad(String(r.connections), 5)} ${lpad(fmt(r.rps, 0), 9)} ${lpad(fmt(r.p50, 2), 8)} ${lpad(fmt(r.p99, 2), 8)} ${lpad(String(r.errors), 7)} ${lpad(String(r.non2xx), 8)}  ${r.roundRps.map((x) => fmt(x, 0)).join(' ')}\n`)
      }
      const [w, f] = pair
      process.stdout.write(`${pad('', 14)} ${pad('ratio', 8)} ${lpad('', 5)} ${lpad(fmt(w.rps / f.rps, 3), 9)}   webhook/floor throughput; per round ${w.roundRps.map((x, i) => fmt(x / (f.roundRps[i] ?? Number.NaN), 2)).join(' ')}\n`)
    }

    const find = (id: string, conns: number): Row | undefined => rows.find(([w]) => w.label.startsWith(`(${id})`) && w.connections === conns)?.[0]
    const ratioA = ((): number => {
      const pair = rows.find(([w]) => w.label.startsWith('(a)'))
      return pair === undefined ? Number.NaN : pair[0].rps / pair[1].rps
    })()
    const a = find('a', CONNECTIONS)
    const c1 = find('c', 1)
    process.stdout.write('\ntargets (issue 7; measured, not asserted):\n')
    if (a !== undefined) {
      process.stdout.write(`  (a) webhook/floor throughput  ${lpad(fmt(ratioA, 3), 8)}   target >= 0.85    ${verdict(ratioA >= 0.85)}\n`)
      process.stdout.write(`  (a) p99 at ${CONNECTIONS} connections  ${lpad(fmt(a.p99, 2), 8)} ms target <= 5 ms   ${verdict(a.p99 <= 5)}\n`)
    }
    if (c1 !== undefined) {
      process.stdout.write(`  (c) p99 of one review (1 conn) ${lpad(fmt(c1.p99, 2), 7)} ms target < 20 ms   ${verdict(c1.p99 < 20)}  (p50 ${fmt(c1.p50, 2)} ms; floor p99 ${fmt(rows.find(([w]) => w === c1)?.[1].p99 ?? Number.NaN, 2)} ms)\n`)
    }
    if (peakRss !== undefined) process.stdout.write(`  webhook peak RSS (VmHWM)      ${lpad(fmt(peakRss / MB, 1), 8)} MB target <= 100 MB ${verdict(peakRss <= 100 * MB)}  (floor ${fmt((floorRss ?? Number.NaN) / MB, 1)} MB)\n`)
    process.stdout.write(`    peak RSS so far, webhook: ${peaks.join('; ')}\n`)
    process.stdout.write(`  serve startup, spawn to listening: median ${fmt(median(startup.serve), 0)} ms (runs ${startup.serve.map((x) => fmt(x, 0)).join(', ')}); bare node:https floor: median ${fmt(median(startup.floor), 0)} ms\n`)
    const failures = rows.flat().reduce((n, r) => n + r.errors + r.non2xx, 0)
    process.stdout.write(`  failed requests (errors + non-2xx) over the whole run: ${failures}\n`)

    const exit = await webhook.stop()
    webhook = undefined
    if (exit.code !== 0) process.stdout.write(`\nwebhook exited with code ${String(exit.code)} signal ${String(exit.signal)}\n`)
    if (flags.profile) {
      const prof = (await readdir(profDir).catch(() => [])).find((f) => f.endsWith('.cpuprofile'))
      if (prof === undefined) {
        process.stdout.write('\nno CPU profile was written (the webhook must exit normally on SIGTERM)\n')
      } else {
        const spots = await hotSpots(join(profDir, prof), repoRoot, 20)
        process.stdout.write(`\nwebhook CPU profile (${fmt(spots.busyMs, 0)} ms busy), by self time:\n`)
        for (const s of spots.bySelf) process.stdout.write(`  ${lpad(fmt(s.self * 100, 1), 5)}% self ${lpad(fmt(s.total * 100, 1), 5)}% total  ${s.name}\n`)
        process.stdout.write('by inclusive time:\n')
        for (const s of spots.byTotal) process.stdout.write(`  ${lpad(fmt(s.total * 100, 1), 5)}% total ${lpad(fmt(s.self * 100, 1), 5)}% self  ${s.name}\n`)
      }
    }
  } finally {
    await webhook?.stop()
    await floor?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
