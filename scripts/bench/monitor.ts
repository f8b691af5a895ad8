// The monitor at scale (issue 24), on a real kube-apiserver and etcd (test/support/control-plane.ts):
// N namespaces x 3 targets, half of the Secrets present, the real `egress-mtls monitor`
// process with the chart's own RBAC and its ServiceAccount's token. Prints the time from
// start to ready (every watch listed), its RSS, its TCP connections, and how long a Secret
// change takes to reach its metric. Figures are measured, not asserted.
//
//   node scripts/bench/monitor.ts [--namespaces 1000] [--changes 10]
import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'

import { parseAllDocuments, stringify } from 'yaml'

import { ensureBinaries } from '../../test/support/binaries.ts'
import { startControlPlane } from '../../test/support/control-plane.ts'
import { kubeJson, kubeRequest, loadKubeConfig, serviceAccountKubeconfig } from '../../test/support/kube.ts'
import { httpGet, sample, scrape } from '../../test/support/metrics-port.ts'
import { clientMaterial, notAfterSeconds } from '../../test/support/pki.ts'
import { pool } from '../../test/support/pool.ts'
import { cliMain, repoRoot } from '../../test/support/repo.ts'
import { run } from '../../test/support/run.ts'
import { procStatusBytes } from '../../test/support/serve.ts'

const { values } = parseArgs({ options: { namespaces: { type: 'string', default: '1000' }, changes: { type: 'string', default: '10' } } })
const N = Number(values.namespaces)
const CHANGES = Number(values.changes)
const TARGETS = ['bank-api', 'tax-gw', 'pay-hub']

const binaries = await ensureBinaries()
const cp = await startControlPlane({ binaries })
try {
  const kc = loadKubeConfig(cp.kubeconfigPath)
  const namespaces = Array.from({ length: N }, (_, i) => `team-${String(i).padStart(4, '0')}`)
  const t0 = Date.now()
  await pool(['egress-mtls', ...namespaces], 16, (name) => kubeJson(kc, { method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name } } }))
  const config = { targets: TARGETS.map((name, i) => ({ name, host: `${name}.example.com`, namespaces, plainPort: 80 + i })) }
  const work = cp.dir
  const configFile = join(work, 'config.json')
  await writeFile(configFile, JSON.stringify(config))
  await writeFile(join(work, 'values.yaml'), stringify({ config }))
  // Only the monitor's RBAC is needed.
  const rendered = await run(binaries.helm ?? 'helm', ['template', 'bench', join(repoRoot, 'charts', 'egress-mtls'), '-n', 'egress-mtls', '-f', join(work, 'values.yaml'), '--show-only', 'templates/monitor-rbac.yaml'], { cwd: repoRoot })
  if (rendered.code !== 0) throw new Error(rendered.stderr)
  type Rbac = { kind: string, apiVersion: string, metadata: { name: string, namespace?: string } } | null
  const rbac = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as Rbac).filter((o) => o !== null)
  const plural: Record<string, string> = { ServiceAccount: 'serviceaccounts', Role: 'roles', RoleBinding: 'rolebindings' }
  await pool(rbac, 16, (o) => kubeJson(kc, {
    method: 'POST',
    path: `${o.apiVersion === 'v1' ? '/api/v1' : `/apis/${o.apiVersion}`}/namespaces/${o.metadata.namespace ?? ''}/${plural[o.kind] ?? '?'}`,
    body: o,
  }))
  const material = await clientMaterial({ validToDays: 90 })
  const data = { cert: material.cert, key: material.key, cacert: material.cacert }
  const present = namespaces.flatMap((ns, i) => TARGETS.filter((_, j) => (i * TARGETS.length + j) % 2 === 0).map((t) => [ns, `${t}-mtls`] as const))
  await pool(present, 16, ([ns, name]) => kubeJson(kc, { method: 'POST', path: `/api/v1/namespaces/${ns}/secrets`, body: { metadata: { name }, stringData: data } }))
  process.stdout.write(`setup: ${N} namespaces, ${rbac.length} RBAC objects, ${present.length} of ${N * TARGETS.length} Secrets in ${Date.now() - t0} ms\n`)

  const token = await serviceAccountKubeconfig(kc, 'egress-mtls', 'bench-egress-mtls-monitor', work, 3600)
  const started = Date.now()
  const child = spawn(process.execPath, [cliMain, 'monitor', '--config', configFile, '--kubeconfig', token, '--metrics-listen', '127.0.0.1:0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let logs = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { logs += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { logs += s })
  // --log-level warn hides the port: find it from the process's listening socket instead.
  let port = 0
  while (port === 0) {
    if (child.exitCode !== null) throw new Error(`monitor exited: ${logs}`)
    const ss = await run('ss', ['-ltnpH'], {})
    const m = new RegExp(`127\\.0\\.0\\.1:(\\d+)\\s.*pid=${child.pid ?? -1},`).exec(ss.stdout)
    if (m !== null) port = Number(m[1])
    else await sleep(50)
  }
  while ((await httpGet(port, '/readyz')).status !== 200) await sleep(50)
  const readyMs = Date.now() - started
  await sleep(2000)
  const metrics = await scrape(port)
  const series = metrics.split('\n').filter((l) => l.startsWith('egress_mtls_client_certificate_not_after_timestamp_seconds{')).length
  const missing = metrics.split('\n').filter((l) => l.startsWith('egress_mtls_client_secret_problem{') && l.includes('reason="missing"')).length
  const rss = await procStatusBytes(child.pid ?? 0, 'VmRSS') ?? 0
  const heap = sample(metrics, 'nodejs_heap_size_used_bytes')
  const sockets = await run('ss', ['-tnpH', 'state', 'established'], {})
  const connections = sockets.stdout.split('\n').filter((l) => l.includes(`pid=${child.pid ?? -1},`) && !l.includes(`:${port} `)).length
  process.stdout.write(`monitor: ${N * TARGETS.length} watches; ready ${readyMs} ms after start; ${series} certificates, ${missing} missing; RSS ${(rss / 2 ** 20).toFixed(0)} MiB, heap used ${((heap ?? 0) / 2 ** 20).toFixed(0)} MiB, ${connections} TCP connections${logs === '' ? '' : `\nlogs: ${logs.slice(0, 2000)}`}\n`)

  const latencies: number[] = []
  for (let i = 0; i < CHANGES; i++) {
    const ns = namespaces[(i * 97) % N]!
    const name = 'bank-api-mtls'
    const renewed = await clientMaterial({ validToDays: 100 + i })
    const body = { metadata: { name }, stringData: { cert: renewed.cert, key: renewed.key, cacert: material.cacert } }
    const t = Date.now()
    const put = await kubeRequest(kc, { method: 'PUT', path: `/api/v1/namespaces/${ns}/secrets/${name}`, body })
    if (put.status === 404) await kubeJson(kc, { method: 'POST', path: `/api/v1/namespaces/${ns}/secrets`, body })
    const want = notAfterSeconds(renewed.cert)
    while (sample(await scrape(port), 'egress_mtls_client_certificate_not_after_timestamp_seconds', { namespace: ns, target: 'bank-api', secret: name }) !== want) {
      if (Date.now() - t > 30_000) throw new Error(`change ${i} not seen in 30 s`)
      await sleep(10)
    }
    latencies.push(Date.now() - t)
  }
  latencies.sort((a, b) => a - b)
  process.stdout.write(`change to metric (${CHANGES} Secret writes, from the write's start, scraping every 10 ms; each scrape renders every series): median ${latencies[Math.floor(latencies.length / 2)] ?? 0} ms, max ${latencies.at(-1) ?? 0} ms\n`)
  child.kill('SIGTERM')
} finally {
  await cp.stop()
}
