// npm run bench: egress-mtls serve beside a floor server (bare node:https + JSON.parse),
// loaded alternately with the same realistic AdmissionReviews over TLS keep-alive
// (HTTP/1.1, 32 connections, autocannon), so machine noise hits both alike.
// Prints requests/s, p50/p99 latency, server CPU time per review, the webhook/floor ratios
// (throughput, p99, CPU per review, round by round: median and spread; RSS after the load)
// next to the targets of issues 29 and 7, and the webhook's peak RSS. Figures are measured,
// not asserted. The ratios judged are medians over rounds of each pair of neighbouring runs
// (floor then webhook, or webhook then floor): on a shared machine a burst of outside load
// skews one round, not the verdict.
//
//   node scripts/bench.ts [--duration 1] [--rounds 20] [--warmup 8] [--connections 32] [--rate 1000 (paced row of (a))]
//                         [--only a,b,c,h,m,idle] [--startup-runs 5]
//                                     (h: hostile ~3 MiB annotations, four at once; m: admit() and (a)'s body to JSON in a loop;
//                                      idle: 2,000 idle connections, bench/idle.ts)
//                         [--profile]   (CPU profiles of both servers; prints the hot spots in µs per review)
//                         [--perf]   (Linux perf: CPU time only, preemption left out; see bench/perf.ts)
//                         [--node-args="--max-semi-space-size=4"]   (flags for both servers' node; default: the chart's
//                                                                     webhook.nodeOptions, as the webhook runs in a cluster;
//                                                                     --node-args= for Node's own choices)
//                         [--built]   (serve compiled to JavaScript, as the image runs it, instead of src/*.ts)
//                         [--floor fastify]   (the floor answers through Fastify, set up as the webhook's:
//                                              the webhook/floor ratio then leaves out the framework's cost)
//                         [--memory-limit 256]   (the webhook in a memory cgroup of that many MiB, as the
//                                                 chart's limit; Linux, root; see bench/cgroup.ts)
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

import autocannon from 'autocannon'
import { parse } from 'yaml'

import { DEFAULT_LIMITS } from '../src/server/app.ts'
import { writeServingSecret } from '../test/support/kubelet-volume.ts'
import { type Authority, loopbackServer, testAuthority } from '../test/support/pki.ts'
import { repoRoot } from '../test/support/repo.ts'
import { answerProblem, keepAliveAgent, post } from '../test/support/review-client.ts'
import { BENCH_CONFIG, type Hostile, hostileCreate, type Scenario, scenarios } from '../test/support/reviews.ts'
import { type Listening, procStatusBytes, type ServeFiles, type SpawnOptions, startFloor, startServe } from '../test/support/serve.ts'
import { admitMicro, bodyMicro } from './bench/admit.ts'
import { type MemoryCgroup, memoryCgroup } from './bench/cgroup.ts'
import { type HeldBodies, heldBodies, type HostileBatch, hostileBatch } from './bench/hostile.ts'
import { idleReport } from './bench/idle.ts'
import { paced } from './bench/paced.ts'
import { perfCosts, perfNodeArgs, perfRecord } from './bench/perf.ts'
import { hotSpots } from './bench/profile.ts'

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '8' },
    connections: { type: 'string', default: '32' },
    rate: { type: 'string', default: '1000' },
    only: { type: 'string', default: 'a,b,c,h,m,idle' },
    profile: { type: 'boolean', default: false },
    perf: { type: 'boolean', default: false },
    'startup-runs': { type: 'string', default: '5' },
    'node-args': { type: 'string' },
    built: { type: 'boolean', default: false },
    'memory-limit': { type: 'string', default: '' },
    floor: { type: 'string', default: 'node' },
  },
})
const DURATION = Number(flags.duration)
const ROUNDS = Number(flags.rounds)
/**
 * Seconds of load on each server before its first round of each scenario. Under `--trace-opt`
 * both servers still compile new code for about 8 s of load (the webhook, with more code, a
 * few dozen functions a second for longer than the floor); rounds measured before that
 * compare two JITs at work, not two servers.
 */
const WARMUP = Number(flags.warmup)
const CONNECTIONS = Number(flags.connections)
const RATE = Number(flags.rate)
const ONLY = new Set(flags.only.split(','))
/**
 * Node flags of both servers: by default the chart's `webhook.nodeOptions`
 * (--max-semi-space-size=8), as the webhook runs in a cluster, and the floor the same, so that
 * the two are compared under one V8 heap policy. Under Node's own (a young generation of up to
 * 64 MiB semi-spaces on this machine, grown as long as objects survive its collections), RSS
 * after a run follows how many reviews a server answered, not what it keeps.
 */
const NODE_ARGS = (flags['node-args'] ?? chartNodeOptions()).split(' ').filter((a) => a !== '')
if (flags.floor !== 'node' && flags.floor !== 'fastify') throw new Error(`--floor ${flags.floor}: node or fastify`)
const FASTIFY_FLOOR = flags.floor === 'fastify'
const MB = 1024 * 1024

function chartNodeOptions (): string {
  const values = parse(readFileSync(join(repoRoot, 'charts/egress-mtls/values.yaml'), 'utf8')) as { webhook?: { nodeOptions?: unknown } }
  const options = values.webhook?.nodeOptions
  return typeof options === 'string' ? options : ''
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
async function cpuSeconds (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100
}

interface Sample {
  completed: number
  seconds: number
  cpu: number
  latencies: number[]
  errors: number
  non2xx: number
  /** Paced load: reviews sent late because the connection still awaited an answer. */
  late: number
  /** Requests per second of each round. */
  rounds: number[]
  /** Server CPU microseconds per review of each round. */
  roundsCpu: number[]
  /** p99 latency (ms) of each round. */
  roundsP99: number[]
}
const emptySample = (): Sample => ({
  completed: 0, seconds: 0, cpu: 0, latencies: [], errors: 0, non2xx: 0, late: 0, rounds: [], roundsCpu: [], roundsP99: [],
})

/** Reviews each server answered (by pid), warm-up and checks included: what its CPU profile covers. */
const answered = new Map<number, number>()
const countAnswered = (server: Listening, n: number): void => { answered.set(server.pid, (answered.get(server.pid) ?? 0) + n) }

interface Load {
  readonly connections: number
  /** Requests per second over all connections, sent at a steady pace; unset: as fast as answered. */
  readonly rate?: number
}

/**
 * One run: autocannon flat out, or reviews paced at `load.rate` (scripts/bench/paced.ts);
 * latencies come from each answer (sub-millisecond resolution).
 */
async function run (server: Listening, ca: string, bodies: readonly string[], load: Load, seconds: number, into: Sample): Promise<void> {
  const cpuBefore = await cpuSeconds(server.pid)
  if (load.rate !== undefined) {
    const r = await paced(server.https, ca, bodies, load.connections, load.rate, seconds)
    const cpu = await cpuSeconds(server.pid) - cpuBefore
    into.cpu += cpu
    into.roundsCpu.push((cpu / r.completed) * 1e6)
    into.completed += r.completed
    into.seconds += r.seconds
    into.errors += r.failed
    into.late += r.late
    into.rounds.push(r.completed / r.seconds)
    into.roundsP99.push(percentile([...r.latencies].sort((a, b) => a - b), 99))
    countAnswered(server, r.completed)
    for (const l of r.latencies) into.latencies.push(l)
    return
  }
  const instance = autocannon({
    url: `https://127.0.0.1:${server.https}`,
    connections: load.connections,
    pipelining: 1,
    duration: seconds,
    timeout: 30,
    tlsOptions: { ca },
    requests: bodies.map((body) => ({ method: 'POST', path: '/mutate', headers: { 'content-type': 'application/json' }, body })),
  })
  const latencies: number[] = []
  instance.on('response', (_client, statusCode, _bytes, responseTime) => { if (statusCode === 200) latencies.push(responseTime) })
  const result = await instance
  const cpu = await cpuSeconds(server.pid) - cpuBefore
  into.cpu += cpu
  into.roundsCpu.push((cpu / result['2xx']) * 1e6)
  into.completed += result['2xx']
  into.seconds += result.duration
  into.errors += result.errors + result.timeouts
  into.non2xx += result.non2xx
  into.rounds.push(result['2xx'] / result.duration)
  into.roundsP99.push(percentile(latencies.sort((a, b) => a - b), 99))
  countAnswered(server, result['2xx'])
  for (const l of latencies) into.latencies.push(l)
}

function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

function median (xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length / 2
  if (sorted.length === 0) return Number.NaN
  if (Number.isInteger(mid)) return ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
  return sorted[Math.floor(mid)] ?? Number.NaN
}

interface Row {
  readonly label: string
  readonly server: 'webhook' | 'floor'
  readonly load: string
  readonly rps: number
  readonly p50: number
  readonly p99: number
  /** Server CPU microseconds per answered review. */
  readonly cpuUs: number
  readonly failed: number
  readonly late: number
  readonly rounds: readonly number[]
  readonly roundsCpu: readonly number[]
  readonly roundsP99: readonly number[]
}

function row (label: string, server: 'webhook' | 'floor', load: Load, s: Sample): Row {
  const sorted = s.latencies.sort((a, b) => a - b)
  return {
    label,
    server,
    load: `${load.connections}${load.rate === undefined ? '' : ` @${load.rate}/s`}`,
    late: s.late,
    rps: s.completed / s.seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    cpuUs: (s.cpu / s.completed) * 1e6,
    failed: s.errors + s.non2xx,
    rounds: s.rounds,
    roundsCpu: s.roundsCpu,
    roundsP99: s.roundsP99,
  }
}

/** Alternates floor and webhook round by round (ABBA order), after a warm-up of each. */
async function compare (webhook: Listening, floor: Listening, ca: string, sc: Scenario, load: Load): Promise<[Row, Row]> {
  const warm = emptySample()
  await run(floor, ca, sc.bodies, load, WARMUP, warm)
  await run(webhook, ca, sc.bodies, load, WARMUP, warm)
  const w = emptySample()
  const f = emptySample()
  for (let r = 0; r < ROUNDS; r++) {
    const order: [Listening, Sample][] = r % 2 === 0 ? [[floor, f], [webhook, w]] : [[webhook, w], [floor, f]]
    for (const [server, sample] of order) await run(server, ca, sc.bodies, load, DURATION, sample)
  }
  const label = `(${sc.id}) ${(Buffer.byteLength(sc.bodies[0]!) / 1024).toFixed(0)} KiB`
  return [row(label, 'webhook', load, w), row(label, 'floor', load, f)]
}

/** One request of each scenario, checked as the fuzz test checks answers. */
async function sanity (port: number, ca: string, sc: Scenario): Promise<string> {
  const agent = keepAliveAgent(ca, 1)
  try {
    const body = sc.bodies[0]!
    const answer = await post(agent, port, body)
    const problem = answerProblem(body, answer)
    if (problem !== undefined) return `WRONG: ${problem}`
    const response = (JSON.parse(answer.body) as { response: { patch?: string, allowed: boolean } }).response
    return response.patch === undefined
      ? `allowed=${String(response.allowed)}, no patch`
      : `allowed=${String(response.allowed)}, patch of ${(JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as unknown[]).length} ops`
  } finally {
    agent.destroy()
  }
}

/** The program compiled as `npm run build` does (tsconfig.build.json), into `dir`; its main.js. */
async function build (dir: string): Promise<string> {
  await mkdir(dir, { recursive: true })
  // dist/version.ts reads the version from the package.json beside dist/, as in the image.
  const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
  await writeFile(join(dir, 'package.json'), `${JSON.stringify({ type: 'module', version })}\n`)
  await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'))
  const tsc = spawn(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { stdio: 'inherit' })
  const [code] = await once(tsc, 'exit') as [number | null]
  if (code !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${String(code)})`)
  return join(dir, 'dist', 'cli', 'main.js')
}

async function startupTimes (files: ServeFiles, runs: number, cli: string | undefined): Promise<{ serve: number[], floor: number[] }> {
  const serve: number[] = []
  const floor: number[] = []
  for (let i = 0; i < runs; i++) {
    const s = await startServe(files, cli === undefined ? {} : { cli })
    serve.push(s.startupMs)
    await s.stop()
    const f = await startFloor(files.cert, files.key, { fastify: FASTIFY_FLOOR })
    floor.push(f.startupMs)
    await f.stop()
  }
  return { serve, floor }
}

const fmt = (n: number, digits = 1): string => Number.isFinite(n) ? n.toFixed(digits) : '-'
const pad = (s: string, n: number): string => s.length >= n ? s : s + ' '.repeat(n - s.length)
const lpad = (s: string, n: number): string => s.length >= n ? s : ' '.repeat(n - s.length) + s
const verdict = (ok: boolean): string => ok ? 'met' : 'MISSED'
const out = (s = ''): void => { process.stdout.write(`${s}\n`) }

/** Webhook/floor throughput and p99, floor/webhook CPU per review, round by round. */
function ratios (w: Row, f: Row): { throughput: number[], cpu: number[], p99: number[] } {
  return {
    throughput: w.rounds.map((x, i) => x / (f.rounds[i] ?? Number.NaN)),
    cpu: w.roundsCpu.map((x, i) => (f.roundsCpu[i] ?? Number.NaN) / x),
    p99: w.roundsP99.map((x, i) => x / (f.roundsP99[i] ?? Number.NaN)),
  }
}

/** "median (min-max)" of per-round figures. */
const spread = (xs: readonly number[], digits = 2): string => `${fmt(median(xs), digits)} (${fmt(Math.min(...xs), digits)}-${fmt(Math.max(...xs), digits)})`

function printTable (rows: readonly [Row, Row][]): void {
  const header = `${pad('request', 13)} ${pad('server', 7)} ${lpad('conns', 10)} ${lpad('req/s', 7)} ${lpad('p50 ms', 8)} ${lpad('p99 ms', 8)} ${lpad('CPU µs/req', 10)} ${lpad('failed', 6)}  req/s per round`
  out(header)
  out('-'.repeat(header.length + 24))
  for (const [w, f] of rows) {
    for (const r of [w, f]) {
      out(`${pad(r.label, 13)} ${pad(r.server, 7)} ${lpad(r.load, 10)} ${lpad(fmt(r.rps, 0), 7)} ${lpad(fmt(r.p50, 2), 8)} ${lpad(fmt(r.p99, 2), 8)} ${lpad(fmt(r.cpuUs, 0), 10)} ${lpad(String(r.failed), 6)}  ${r.rounds.map((x) => fmt(x, 0)).join(' ')}${r.late > 0 ? ` (${r.late} sent late)` : ''}`)
    }
    const { throughput, cpu } = ratios(w, f)
    out(`${pad('', 13)} ${pad('ratio', 7)} ${lpad('', 10)} ${lpad(fmt(median(throughput), 2), 7)}   throughput webhook/floor, median of rounds (rounds ${throughput.map((x) => fmt(x, 2)).join(' ')}; all requests ${fmt(w.rps / f.rps, 2)}); ` +
      `CPU per review floor/webhook ${fmt(median(cpu), 2)} (all ${fmt(f.cpuUs / w.cpuUs, 2)})`)
  }
}

/** Top entries of both CPU profiles, in µs of the main thread per review answered (start-up left out; see bench/profile.ts). */
async function printProfiles (profDir: string, reviews: { webhook: number, floor: number }): Promise<void> {
  for (const [name, limit] of [['webhook', 20], ['floor', 8]] as const) {
    const prof = (await readdir(join(profDir, name)).catch(() => [])).find((f) => f.endsWith('.cpuprofile'))
    if (prof === undefined) {
      out(`\nno CPU profile was written for the ${name} (it must exit normally on SIGTERM)`)
      continue
    }
    const spots = await hotSpots(join(profDir, name, prof), repoRoot, limit)
    const perReview = (share: number): string => lpad(fmt((share * spots.busyMs * 1000) / reviews[name], 1), 6)
    out(`\n${name} CPU profile from its first request on: ${fmt(spots.busyMs, 0)} ms busy, ${reviews[name]} reviews answered, ${fmt((spots.busyMs * 1000) / reviews[name], 0)} µs per review; ` +
      `self time by origin: ${spots.byOrigin.filter(([, share]) => share >= 0.001).map(([o, share]) => `${o} ${fmt(share * 100, 1)}%`).join(', ')}`)
    out('by self time (µs per review, self and total):')
    for (const s of spots.bySelf) out(`  ${perReview(s.self)} ${perReview(s.total)}  ${lpad(fmt(s.self * 100, 1), 5)}%  ${s.name}${s.via === '' ? '' : `  < ${s.via}`}`)
    if (name === 'floor') continue
    out('by inclusive time (µs per review, total and self):')
    for (const s of spots.byTotal) out(`  ${perReview(s.total)} ${perReview(s.self)}  ${lpad(fmt(s.total * 100, 1), 5)}%  ${s.name}`)
  }
}

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'egress-mtls-bench-'))
  let webhook: Listening | undefined
  let floor: Listening | undefined
  let cgroup: MemoryCgroup | undefined
  const perfPids = new Set<number>()
  try {
    const ca: Authority = await testAuthority('egress-mtls bench CA')
    const tls = writeServingSecret(join(dir, 'tls'), await loopbackServer(ca, 7), ca)
    const files: ServeFiles = { config: join(dir, 'config.yaml'), ...tls }
    await writeFile(files.config, BENCH_CONFIG)
    const all = scenarios(8)

    const cli = flags.built ? await build(join(dir, 'built')) : undefined
    const memoryLimit = flags['memory-limit'] === '' ? undefined : Number(flags['memory-limit'])
    if (memoryLimit !== undefined) cgroup = await memoryCgroup(memoryLimit)
    out(`egress-mtls benchmark: Node ${process.version}, ${availableParallelism()} cores, HTTP/1.1 keep-alive over TLS 1.3 (EC P-256 certificate), ` +
      `autocannon; ${ROUNDS} rounds x ${DURATION} s per server and load after ${WARMUP} s of warm-up each, floor and webhook interleaved; ` +
      `floor: ${FASTIFY_FLOOR ? 'Fastify set up as the webhook, deciding nothing' : 'bare node:https'}; ` +
      `serve ${cli === undefined ? 'from src/*.ts (type stripping)' : 'compiled to JavaScript'}; node ${NODE_ARGS.length > 0 ? `${NODE_ARGS.join(' ')} for both servers${flags['node-args'] === undefined ? ' (the chart\'s webhook.nodeOptions)' : ''}` : 'with its own choices'}` +
      (memoryLimit === undefined ? '' : `; the webhook in a ${memoryLimit} MiB memory cgroup (V8 sizes its heap from it), the floor outside`))
    out()

    const startup = await startupTimes(files, Number(flags['startup-runs']), cli)
    const profDir = join(dir, 'profile')
    const options = (name: string): SpawnOptions => ({
      nodeArgs: [...NODE_ARGS, ...(flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, name)}`] : []), ...(flags.perf && (name === 'webhook' || name === 'floor') ? perfNodeArgs(dir) : [])],
    })
    webhook = await startServe(files, { ...options('webhook'), ...(cli === undefined ? {} : { cli }), ...(cgroup === undefined ? {} : { cgroupProcs: cgroup.procs }) })
    floor = await startFloor(files.cert, files.key, { ...options('floor'), fastify: FASTIFY_FLOOR })
    const webhookPid = webhook.pid
    const floorPid = floor.pid
    perfPids.add(webhookPid).add(floorPid)
    const idleRss = { webhook: await procStatusBytes(webhook.pid, 'VmRSS'), floor: await procStatusBytes(floor.pid, 'VmRSS') }

    out('answers (one request of each, checked like the fuzz test does):')
    for (const sc of all) out(`  (${sc.id}) ${sc.title}: webhook ${await sanity(webhook.https, ca.cert, sc)} (expected: ${sc.expect}); floor ${await sanity(floor.https, ca.cert, sc)}`)
    out()

    const rows: [Row, Row][] = []
    const perfFile = join(dir, 'perf.data')
    const recording = flags.perf ? await perfRecord([webhookPid, floorPid], perfFile) : undefined
    const before = new Map(answered)
    // VmHWM only grows: read after each scenario, in order, it is the peak so far.
    const peaks: string[] = []
    // RSS once each scenario's load is over (issue 29 judges (a)'s).
    const rssAfter = new Map<string, { webhook: number, floor: number }>()
    for (const sc of all.filter((s) => ONLY.has(s.id))) {
      // (c): two 1 MB variants are enough (autocannon keeps every body of every connection).
      const scenario = sc.id === 'c' ? { ...sc, bodies: sc.bodies.slice(0, 2) } : sc
      rows.push(await compare(webhook, floor, ca.cert, scenario, { connections: CONNECTIONS }))
      // Latency at a steady rate below saturation (a closed loop of 32 connections measures
      // queueing: latency = connections / throughput); (c) one review at a time.
      if (sc.id === 'a') rows.push(await compare(webhook, floor, ca.cert, scenario, { connections: CONNECTIONS, rate: RATE }))
      if (sc.id === 'c') rows.push(await compare(webhook, floor, ca.cert, scenario, { connections: 1 }))
      peaks.push(`after (${sc.id}) ${fmt((await procStatusBytes(webhook.pid, 'VmHWM') ?? Number.NaN) / MB, 1)} MB (floor ${fmt((await procStatusBytes(floor.pid, 'VmHWM') ?? Number.NaN) / MB, 1)} MB)`)
      rssAfter.set(sc.id, { webhook: await procStatusBytes(webhook.pid, 'VmRSS') ?? Number.NaN, floor: await procStatusBytes(floor.pid, 'VmRSS') ?? Number.NaN })
    }
    const peakRss = await procStatusBytes(webhook.pid, 'VmHWM')
    await recording?.stop()
    const duringPerf = new Map([webhookPid, floorPid].map((pid) => [pid, (answered.get(pid) ?? 0) - (before.get(pid) ?? 0)]))
    // Hostile reviews come last: resetting the peak RSS for them ends the figure above.
    const hostile: [string, HostileBatch][] = []
    const held: [string, HeldBodies][] = []
    if (ONLY.has('h')) {
      // Issue 25: 40 connections each holding all but the last byte of the largest body.
      held.push(['40 connections each holding all but the last byte of a 6 MiB body', await heldBodies(webhook, ca.cert, 40, 6 * MB)])
      const batch = (kinds: readonly Hostile[]): string[] => kinds.map((k, i) => JSON.stringify(hostileCreate(k, 2_900_000, `hostile-${i}`)))
      for (let round = 1; round <= 3; round++) {
        hostile.push([`4 x 2.9 MB [[[...]]] userVolume (round ${round})`, await hostileBatch(webhook, ca.cert, batch(['deep-array', 'deep-array', 'deep-array', 'deep-array']))])
      }
      hostile.push(['4 mixed: {"a":...} mount, 2.9 MB targets, 2.9 MB injected, 100k-deep 200 KB userVolume', await hostileBatch(webhook, ca.cert, batch(['deep-object', 'targets', 'injected', 'deep-small']))])
      // The same four bodies to the floor (bare node:https: reads, parses, answers a fixed
      // review): what reading and parsing 11.6 MB at once costs Node itself here.
      for (let round = 1; round <= 3; round++) {
        hostile.push([`floor: 4 x 2.9 MB [[[...]]] userVolume (round ${round})`, await hostileBatch(floor, ca.cert, batch(['deep-array', 'deep-array', 'deep-array', 'deep-array']))])
      }
    }
    printTable(rows)

    const find = (id: string, load: string): [Row, Row] | undefined => rows.find(([w]) => w.label.startsWith(`(${id})`) && w.load === load)
    const a = find('a', String(CONNECTIONS))
    const aRate = find('a', `${CONNECTIONS} @${RATE}/s`)
    const c1 = find('c', '1')
    const rssA = rssAfter.get('a')
    if (a !== undefined) {
      const r = ratios(...a)
      out()
      out(`targets of issue 29 (webhook against the bare node:https floor, ${ROUNDS} rounds; median (min-max) of the rounds' ratios; measured, not asserted):`)
      if (FASTIFY_FLOOR) out('  not judged: the targets are against the bare node:https floor (run without --floor fastify)')
      else {
        out(`  (a) throughput webhook/floor            ${spread(r.throughput)}   target >= 0.95  ${verdict(median(r.throughput) >= 0.95)}`)
        out(`  (a) p99 at ${CONNECTIONS} connections webhook/floor ${spread(r.p99)}   target <= 1.1   ${verdict(median(r.p99) <= 1.1)} (${fmt(a[0].p99, 2)} vs ${fmt(a[1].p99, 2)} ms over all rounds; rounds ${r.p99.map((x) => fmt(x, 2)).join(' ')})`)
        if (rssA !== undefined) {
          out(`  RSS after (a)'s load webhook/floor      ${fmt(rssA.webhook / rssA.floor, 2)}               target <= 1.2   ${verdict(rssA.webhook / rssA.floor <= 1.2)} (${fmt(rssA.webhook / MB, 1)} vs ${fmt(rssA.floor / MB, 1)} MB; ` +
            `after startup ${fmt((idleRss.webhook ?? Number.NaN) / MB, 1)} vs ${fmt((idleRss.floor ?? Number.NaN) / MB, 1)} MB)`)
        }
        out(`  (a) CPU per review floor/webhook        ${spread(r.cpu)}   (${fmt(a[0].cpuUs, 0)} vs ${fmt(a[1].cpuUs, 0)} µs over all rounds)`)
      }
    }
    out()
    out('targets (issue 7; measured, not asserted):')
    if (a !== undefined) {
      const r = ratios(...a)
      const ratio = median(r.throughput)
      out(`  (a) throughput webhook/floor       ${lpad(fmt(ratio, 2), 7)}     target >= 0.85   ${FASTIFY_FLOOR ? 'not judged: the target is against the bare node:https floor' : verdict(ratio >= 0.85)} (median of ${r.throughput.length} rounds; all requests ${fmt(a[0].rps / a[1].rps, 2)}; ` +
        `CPU per review floor/webhook ${fmt(median(r.cpu), 2)}: ${fmt(a[0].cpuUs, 0)} vs ${fmt(a[1].cpuUs, 0)} µs)`)
      out(`  (a) p99, ${CONNECTIONS} connections flat out ${lpad(fmt(a[0].p99, 2), 7)} ms  target <= 5 ms  ${verdict(a[0].p99 <= 5)} (floor ${fmt(a[1].p99, 2)} ms: both saturated, latency is queueing)`)
    }
    if (aRate !== undefined) out(`  (a) p99, ${CONNECTIONS} conns at ${RATE} req/s   ${lpad(fmt(aRate[0].p99, 2), 7)} ms  target <= 5 ms  ${verdict(aRate[0].p99 <= 5)} (floor ${fmt(aRate[1].p99, 2)} ms; p50 ${fmt(aRate[0].p50, 2)} vs ${fmt(aRate[1].p50, 2)} ms)`)
    if (c1 !== undefined) out(`  (c) one review at a time, p99     ${lpad(fmt(c1[0].p99, 2), 7)} ms  target < 20 ms  ${verdict(c1[0].p99 < 20)} (p50 ${fmt(c1[0].p50, 2)} ms; floor p50 ${fmt(c1[1].p50, 2)}, p99 ${fmt(c1[1].p99, 2)} ms)`)
    if (peakRss !== undefined) out(`  webhook peak RSS (VmHWM)          ${lpad(fmt(peakRss / MB, 1), 7)} MB  target <= 100 MB ${verdict(peakRss <= 100 * MB)} (${peaks.join('; ')}; RSS after startup ${fmt((idleRss.webhook ?? Number.NaN) / MB, 1)} MB, floor ${fmt((idleRss.floor ?? Number.NaN) / MB, 1)} MB)`)
    if (cgroup !== undefined) out(`  webhook memory cgroup peak        ${lpad(fmt(await cgroup.peak() / MB, 1), 7)} MB  (memory charged to the cgroup, as a container's limit counts it)`)
    out(`  serve startup, spawn to listening: median ${fmt(median(startup.serve), 0)} ms (runs ${startup.serve.map((x) => fmt(x, 0)).join(', ')}); bare node:https floor: median ${fmt(median(startup.floor), 0)} ms`)
    out(`  failed requests (errors + non-2xx) over the whole run: ${rows.flat().reduce((n, r) => n + r.failed, 0)}`)
    for (const [label, h] of held) {
      const rise = h.peakRss - h.rssBefore
      out(`  (h) ${label}:`)
      out(`      memory rise: peak RSS ${lpad(fmt(rise / MB, 1), 6)} MiB (${fmt(h.rssBefore / MB, 1)} -> ${fmt(h.peakRss / MB, 1)})  target < 64 MiB  ${Number.isFinite(rise) ? verdict(rise < 64 * MB) : 'not measured (VmHWM cannot be reset)'}; ` +
        `answers while held: ${Object.entries(h.answers).map(([status, n]) => `${n} x ${status}`).join(', ')}; an ordinary review meanwhile: ${h.ordinary.status} in ${fmt(h.ordinary.ms, 1)} ms`)
    }
    for (const [label, h] of hostile) {
      const rise = h.peakRss - h.rssBefore
      const slowest = Math.max(...h.latenciesMs)
      out(`  (h) ${label}, at once:`)
      out(`      memory rise: peak RSS ${lpad(fmt(rise / MB, 1), 6)} MiB (${fmt(h.rssBefore / MB, 1)} -> ${fmt(h.peakRss / MB, 1)})  target < 32 MiB  ${Number.isFinite(rise) ? verdict(rise < 32 * MB) : 'not measured (VmHWM cannot be reset)'}; ` +
        `V8 heap used ${fmt(h.heapUsedBefore / MB, 1)} -> ${fmt(h.heapUsedAfter / MB, 1)} MiB, heap total ${fmt(h.heapTotalBefore / MB, 1)} -> ${fmt(h.heapTotalAfter / MB, 1)} MiB`)
      out(`      answered after ${h.latenciesMs.map((ms) => fmt(ms, 1)).join(', ')} ms  target each <= 50 ms  ${verdict(slowest <= 50)} ` +
        `(server: ${fmt(h.serverMsPerReview, 2)} ms per review from body parsed to answer, ${fmt(h.cpuMsPerReview, 1)} ms CPU per review in all)`)
      if (!label.startsWith('floor')) for (const a of new Set(h.answers)) out(`      ${a}`)
    }
    if (ONLY.has('m')) {
      const m = admitMicro()
      out(`  admit() in a loop, CPU µs per review: (a) ${fmt(m.hit, 2)} (memo hit), (b) ${fmt(m.skipped, 2)}, (a) with a new user volume each time ${fmt(m.miss, 2)}, 2.9 MB [[[...]]] userVolume ${fmt(m.hostile, 2)}`)
      const b = bodyMicro()
      out(`  (a)'s body to JSON in a loop, CPU µs: JSON.parse of all of it ${fmt(b.whole, 2)}, as the webhook reads it (oldObject and managedFields checked, not parsed) ${fmt(b.unparsed, 2)}`)
    }

    const exit = await webhook.stop()
    webhook = undefined
    if (exit.code !== 0) out(`\nwebhook exited with code ${String(exit.code)} signal ${String(exit.signal)}`)
    await floor.stop()
    floor = undefined
    if (ONLY.has('idle')) {
      // All idle connections come from one address here: the cap per address is lifted to the cap.
      const serve = (max: number): Promise<Listening> => startServe(files, { ...options('idle'), args: ['--max-connections', String(max), '--max-connections-per-source', String(max)], ...(cli === undefined ? {} : { cli }), ...(cgroup === undefined ? {} : { cgroupProcs: cgroup.procs }) })
      const idleFloor = (): Promise<Listening> => startFloor(files.cert, files.key, { ...options('idle-floor'), fastify: FASTIFY_FLOOR })
      out()
      for (const line of await idleReport({ serve, floor: idleFloor }, ca.cert, all.find((sc) => sc.id === 'b')?.bodies[0] ?? '', 2000, DEFAULT_LIMITS.maxConnections)) out(line)
    }
    if (recording !== undefined) {
      const costs = await perfCosts(perfFile, duringPerf, repoRoot)
      out(`\nCPU time by perf (cpu-clock), µs per review: webhook ${fmt(costs.main[0]! + costs.other[0]!, 0)} (main thread ${fmt(costs.main[0]!, 0)}, other threads ${fmt(costs.other[0]!, 0)}), ` +
        `floor ${fmt(costs.main[1]! + costs.other[1]!, 0)} (main thread ${fmt(costs.main[1]!, 0)}, other threads ${fmt(costs.other[1]!, 0)})`)
      out(`${lpad('webhook', 8)} ${lpad('floor', 8)}  nearest JavaScript frame or native entry`)
      for (const [name, [w, f]] of costs.rows) out(`${lpad(fmt(w ?? Number.NaN, 1), 8)} ${lpad(fmt(f ?? Number.NaN, 1), 8)}  ${name}`)
    }
    if (flags.profile) {
      await printProfiles(profDir, { webhook: answered.get(webhookPid) ?? Number.NaN, floor: answered.get(floorPid) ?? Number.NaN })
    }
  } finally {
    await webhook?.stop()
    await floor?.stop()
    await cgroup?.remove()
    await rm(dir, { recursive: true, force: true })
    // node --perf-basic-prof's symbol maps.
    if (flags.perf) for (const pid of perfPids) await rm(`/tmp/perf-${pid}.map`, { force: true })
  }
}

await main()
