// The chart on a real node: kubelet + containerd + runc run the image that
// scripts/build-image.sh built, kube-controller-manager's controllers (ReplicaSet, Job,
// CronJob, garbage collector, endpoints) and kube-scheduler do what they do in a cluster.
// The tests run in order and share the node and the release (test/node/README.md).
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { isDeepStrictEqual } from 'node:util'

import { stringify } from 'yaml'

import { installIstioCrds } from '../support/crds.ts'
import { kubeJson, kubeRequest } from '../support/kube.ts'
import { issue, testAuthority } from '../support/pki.ts'
import { packageVersion as version, repoRoot } from '../support/repo.ts'
import { cannotRun, ensureNodeBinaries, type Node, sh, startNode } from './cluster.ts'

const skip = cannotRun()
const release = 'em'
const releaseNs = 'egress-mtls'
const appNs = 'payments'
const chartDir = join(repoRoot, 'charts', 'egress-mtls')

interface Meta {
  name: string
  namespace?: string
  uid?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  ownerReferences?: { kind: string, name: string }[]
  resourceVersion?: string
}
interface Obj { metadata: Meta, spec?: Record<string, unknown>, status?: Record<string, unknown> }
interface PodTemplate { metadata?: { labels?: Record<string, string>, annotations?: Record<string, string> } }

let node: Node | undefined
let work = ''
let helmBin = ''

const kc = (): Node['kc'] => node!.kc
const get = async <T = Obj>(path: string): Promise<T> => await kubeJson(kc(), { path }) as T
const list = async (path: string): Promise<Obj[]> => (await get<{ items: Obj[] }>(path)).items

async function create (path: string, body: unknown): Promise<Obj> {
  return await kubeJson(kc(), { method: 'POST', path, body }) as Obj
}

/** Polls fn until it returns a value other than undefined; fails with `what` and the last value seen. */
async function waitFor<T> (what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms (last error: ${String(last)})`)
    await sleep(500)
  }
}

async function helm (...args: string[]): Promise<string> {
  return await sh(helmBin, [...args, '--kubeconfig', node!.kubeconfigPath])
}

async function valuesFile (name: string, values: unknown): Promise<string> {
  const file = join(work, `${name}.yaml`)
  await writeFile(file, stringify(values))
  return file
}

const target = (name: string, host: string): Record<string, unknown> => ({ name, host, namespaces: [appNs] })
const baseValues = {
  image: { pullPolicy: 'Never' },
  config: { injection: 'label', targets: [target('bank-api', 'api.bank.example.com')] },
}

function conditionTrue (o: Obj, type: string): boolean {
  const conditions = (o.status?.['conditions'] ?? []) as { type: string, status: string }[]
  return conditions.some((c) => c.type === type && c.status === 'True')
}

const jobDone = (ns: string, name: string, timeoutMs = 120_000): Promise<Obj> => waitFor(`Job ${ns}/${name} Complete`, timeoutMs, async () => {
  const job = await get(`/apis/batch/v1/namespaces/${ns}/jobs/${name}`)
  if (conditionTrue(job, 'Failed')) throw new Error(`Job ${ns}/${name} failed: ${JSON.stringify(job.status)}`)
  return conditionTrue(job, 'Complete') ? job : undefined
})

interface ContainerProcess { pid: number, uid: string, rootReadOnly: boolean, cmd: string, container: string }

/**
 * The node's processes of a pod's containers (not the sandbox), from the kubelet's cgroups
 * (`container`: the container's ID, its cgroup's name).
 */
function containerProcesses (podUid: string): ContainerProcess[] {
  const roots = [`/sys/fs/cgroup/memory/${node!.name}`, `/sys/fs/cgroup/${node!.name}`].filter((d) => existsSync(d))
  const found: ContainerProcess[] = []
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue
      const sub = join(dir, e.name)
      if (e.name !== `pod${podUid}`) { walk(sub); continue }
      for (const c of readdirSync(sub, { withFileTypes: true }).filter((x) => x.isDirectory())) {
        for (const pid of readFileSync(join(sub, c.name, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)) {
          try {
            const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
            if (cmd === '/pause') continue
            const uid = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? ''
            const root = readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/')
            found.push({ pid, uid, rootReadOnly: root?.split(' ')[5]?.split(',').includes('ro') ?? false, cmd, container: c.name })
          } catch { /* exited meanwhile */ }
        }
      }
    }
  }
  for (const r of roots) walk(r)
  return found
}

describe('the chart on a real node', { skip }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'egress-mtls-node-test-'))
    const t0 = Date.now()
    const bins = await ensureNodeBinaries()
    helmBin = bins.get('HELM') ?? assert.fail('no helm')
    const image = join(work, `egress-mtls-${version}.oci.tar`)
    await sh('bash', [join(repoRoot, 'scripts', 'build-image.sh'), image])
    process.stderr.write(`[node] binaries and image in ${Date.now() - t0} ms\n`)
    node = await startNode(bins, [image])
    await installIstioCrds(kc())
    for (const [name, labels] of [
      [releaseNs, { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' }],
      [appNs, {}],
      ['istio-system', {}],
    ] as const) await create('/api/v1/namespaces', { metadata: { name, labels } })
    await create(`/api/v1/namespaces/${appNs}/secrets`, {
      metadata: { name: 'bank-api-mtls' },
      stringData: { cert: 'not a real certificate', key: 'not a real key', cacert: 'not a real CA' },
    })
    // The controller manager gives each new namespace its `default` ServiceAccount and its
    // kube-root-ca.crt ConfigMap, a moment later: the snapshot waits for them, or they would
    // count as objects the release left behind.
    for (const ns of [releaseNs, appNs, 'istio-system']) {
      await waitFor(`namespace ${ns}'s default ServiceAccount and kube-root-ca.crt`, 60_000, async () => {
        for (const path of [`/api/v1/namespaces/${ns}/serviceaccounts/default`, `/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`]) {
          const { status } = await kubeRequest(kc(), { path })
          if (status !== 200) throw new Error(`${path}: ${status}`)
        }
        return true
      })
    }
    // Right after the CRDs are Established the API server may still answer 429 "storage is
    // (re)initializing" (with retryAfterSeconds) for them: retried as the answer asks.
    initial = await waitFor('a snapshot of the objects before the install', 60_000, snapshot)
    process.stderr.write(`[node] ready for the tests ${Date.now() - t0} ms after start\n`)
  }, { timeout: 3_600_000 })

  after(async () => {
    if (work !== '') await rm(work, { recursive: true, force: true })
    if (node === undefined) return
    await node.stop()
    // Nothing of the run is left: no process, mount, cgroup, network namespace or file.
    const { name, dir } = node
    assert.ok(!existsSync(`/var/run/netns/${name}`), `network namespace ${name} is left`)
    assert.deepEqual(readdirSync('/sys/fs/cgroup').filter((c) => existsSync(join('/sys/fs/cgroup', c, name))), [], 'cgroups left')
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), `mounts under ${dir} are left`)
    assert.ok(!existsSync(dir), `${dir} is left`)
    const procs = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir) } catch { return false }
    })
    assert.deepEqual(procs, [], 'processes of the run are left')
  }, { timeout: 120_000 })

  test('helm install --wait: the certs Job, two Ready webhook replicas (uid 65532, read-only root, PSS restricted), the provision Job, the Istio objects', { timeout: 600_000 }, async () => {
    const t0 = Date.now()
    await helm('install', release, chartDir, '-n', releaseNs, '-f', await valuesFile('install', baseValues), '--wait', '--timeout', '5m')
    process.stderr.write(`[node] helm install --wait: ${Date.now() - t0} ms\n`)
    // The hooks succeeded (helm install fails otherwise) and were deleted (hook-succeeded);
    // what they made is there: the serving certificate, the caBundle, the Istio objects.
    const secret = await get<{ data: Record<string, string> }>(`/api/v1/namespaces/${releaseNs}/secrets/${release}-egress-mtls-webhook-tls`)
    assert.deepEqual(Object.keys(secret.data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'])
    const mwc = await get<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${release}-egress-mtls`)
    assert.equal(mwc.webhooks[0]?.clientConfig.caBundle, secret.data['ca.crt'])
    const se = await list(`/apis/networking.istio.io/v1/namespaces/${appNs}/serviceentries`)
    const dr = await list(`/apis/networking.istio.io/v1/namespaces/${appNs}/destinationrules`)
    assert.equal(se.length, 1, JSON.stringify(se.map((o) => o.metadata.name)))
    assert.equal(dr.length, 1, JSON.stringify(dr.map((o) => o.metadata.name)))

    const deploy = await get(`/apis/apps/v1/namespaces/${releaseNs}/deployments/${release}-egress-mtls-webhook`)
    assert.equal(deploy.status?.['readyReplicas'], 2)
    const pods = await list(`/api/v1/namespaces/${releaseNs}/pods?labelSelector=app.kubernetes.io/component=webhook`)
    assert.equal(pods.length, 2)
    for (const pod of pods) {
      assert.ok(conditionTrue(pod, 'Ready'), `${pod.metadata.name} Ready`)
      const procs = containerProcesses(pod.metadata.uid!)
      assert.ok(procs.length > 0, `no process found for ${pod.metadata.name}`)
      for (const p of procs) {
        assert.match(p.cmd, /^\/nodejs\/bin\/node \/app\/bin\/egress-mtls\.js serve /)
        assert.equal(p.uid, '65532\t65532\t65532\t65532', `${pod.metadata.name}: uid of ${p.cmd}`)
        assert.ok(p.rootReadOnly, `${pod.metadata.name}: the root file system is read-only`)
      }
    }
  })

  test('a labelled Deployment: the ReplicaSet controller\'s Pods carry the userVolume/userVolumeMount annotations and the label', { timeout: 300_000 }, async () => {
    await create(`/apis/apps/v1/namespaces/${appNs}/deployments`, app('payments-api'))
    const pods = await waitFor('Deployment payments-api available', 180_000, async () => {
      const d = await get(`/apis/apps/v1/namespaces/${appNs}/deployments/payments-api`)
      if (!conditionTrue(d, 'Available')) return undefined
      return await list(`/api/v1/namespaces/${appNs}/pods?labelSelector=app=payments-api`)
    })
    assert.equal(pods.length, 1)
    const pod = pods[0]!
    assert.equal(pod.metadata.ownerReferences?.[0]?.kind, 'ReplicaSet')
    assertInjected(pod.metadata, ['bank-api'])
  })

  test('a renewed Secret reaches the files a running injected pod sees, without a restart', { timeout: 300_000 }, async (t) => {
    // The webhook's annotations on the ReplicaSet's Pod, made into what Istio's injector
    // makes of them (there is no istiod on the node): the pod with istio-proxy mounting the
    // target's Secret volume (sidecarView; test/istio/injection.test.ts holds the injector to it).
    const [injected] = await list(`/api/v1/namespaces/${appNs}/pods?labelSelector=app=payments-api`)
    const view = sidecarView(injected!, 'rotation-probe')
    await create(`/api/v1/namespaces/${appNs}/pods`, view)
    interface Status { containerStatuses?: { name: string, containerID?: string, restartCount: number, state?: { running?: object } }[] }
    const proxyStatus = async (): Promise<{ uid: string, containerID: string, restartCount: number }> => {
      const pod = await get<{ metadata: Meta, status?: Status }>(`/api/v1/namespaces/${appNs}/pods/rotation-probe`)
      const s = pod.status?.containerStatuses?.find((c) => c.name === 'istio-proxy')
      if (s?.state?.running === undefined || s.containerID === undefined) throw new Error(`istio-proxy not running: ${JSON.stringify(pod.status)}`)
      return { uid: pod.metadata.uid!, containerID: s.containerID, restartCount: s.restartCount }
    }
    const before = await waitFor('istio-proxy running in rotation-probe', 180_000, proxyStatus)
    // What the container sees: its mount namespace, through its process's root.
    const id = before.containerID.replace(/^containerd:\/\//, '')
    const pid = containerProcesses(before.uid).find((p) => p.container === id)?.pid ?? assert.fail(`no process of container ${id}`)
    const mount = `/proc/${pid}/root${mountPathOf(injected!, 'bank-api')}`
    const seen = (): Record<string, string> => Object.fromEntries(['cert', 'key', 'cacert'].map((k) => [k, readFileSync(join(mount, k), 'utf8')]))
    assert.deepEqual(seen(), { cert: 'not a real certificate', key: 'not a real key', cacert: 'not a real CA' })

    // Three renewals, as a CA renews a certificate (each its own key), a few seconds apart so
    // that they land at different points of the kubelet's sync of the pod.
    const ca = await testAuthority()
    const delays: number[] = []
    for (let i = 1; i <= 3; i++) {
      const renewed = await issue(ca, { commonName: `payments-api renewal ${i}` })
      const files = { cert: renewed.cert, key: renewed.key, cacert: ca.cert }
      const r = await kubeRequest(kc(), {
        method: 'PATCH',
        path: `/api/v1/namespaces/${appNs}/secrets/bank-api-mtls`,
        contentType: 'application/merge-patch+json',
        body: { data: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) },
      })
      assert.equal(r.status, 200, r.body)
      const t0 = Date.now()
      for (;;) {
        if (isDeepStrictEqual(seen(), files)) break
        if (Date.now() - t0 > 120_000) assert.fail(`renewal ${i}: the pod still sees the certificate ${seen()['cert']?.slice(0, 80) ?? ''}... 120 s after the update`)
        await sleep(100)
      }
      delays.push(Date.now() - t0)
      if (i < 3) await sleep(1_000 + 2_000 * i)
    }
    t.diagnostic(`each renewed Secret reached the running pod's files ${delays.join(', ')} ms after the API server took it (kubelet syncFrequency 5s here)`)
    process.stderr.write(`[node] renewed Secret seen in the pod after ${delays.join(', ')} ms\n`)
    assert.deepEqual(await proxyStatus(), { ...before, restartCount: 0 }, 'the same container, never restarted')
    assert.ok(existsSync(`/proc/${pid}`), 'the same process')
    await kubeRequest(kc(), { method: 'DELETE', path: `/api/v1/namespaces/${appNs}/pods/rotation-probe` })
  })

  test('a labelled Job runs to completion, its Pod injected', { timeout: 300_000 }, async () => {
    await create(`/apis/batch/v1/namespaces/${appNs}/jobs`, {
      metadata: { name: 'nightly-export', labels: { 'egress-mtls.io/inject': 'true' } },
      spec: { backoffLimit: 0, template: { spec: podSpec(['-e', 'console.log("exported")'], 'Never') } },
    })
    await jobDone(appNs, 'nightly-export', 180_000)
    const pods = await list(`/api/v1/namespaces/${appNs}/pods?labelSelector=job-name=nightly-export`)
    assert.equal(pods.length, 1)
    assertInjected(pods[0]!.metadata, ['bank-api'])
  })

  test('helm upgrade with a new target, then a rollout restart: the new Pods get the new injection; UPDATE of the old Job still succeeds', { timeout: 600_000 }, async () => {
    const upgraded = {
      ...baseValues,
      config: { ...baseValues.config, targets: [...baseValues.config.targets, target('tax-gw', 'api.tax.example.com')] },
    }
    const t0 = Date.now()
    await helm('upgrade', release, chartDir, '-n', releaseNs, '-f', await valuesFile('upgrade', upgraded), '--wait', '--timeout', '5m')
    process.stderr.write(`[node] helm upgrade --wait: ${Date.now() - t0} ms\n`)
    assert.equal((await list(`/apis/networking.istio.io/v1/namespaces/${appNs}/serviceentries`)).length, 2, 'the provision Job applied the new target')
    // The webhook reloads the ConfigMap when the kubelet updates its volume: wait for it
    // through the API server, with a dry-run of a labelled Deployment.
    await waitFor('the webhook serves the new configuration', 180_000, async () => {
      const r = await kubeJson(kc(), { method: 'POST', path: `/apis/apps/v1/namespaces/${appNs}/deployments?dryRun=All`, body: app('probe') }) as { spec: { template: PodTemplate } }
      return (r.spec.template.metadata?.annotations?.['egress-mtls.io/injected'] ?? '').includes('tax-gw') ? true : undefined
    })
    process.stderr.write(`[node] new configuration served ${Date.now() - t0} ms after helm upgrade began\n`)

    // kubectl rollout restart: an UPDATE of the template, which the webhook injects anew.
    const before = await list(`/api/v1/namespaces/${appNs}/pods?labelSelector=app=payments-api`)
    const r = await kubeRequest(kc(), {
      method: 'PATCH',
      path: `/apis/apps/v1/namespaces/${appNs}/deployments/payments-api`,
      contentType: 'application/strategic-merge-patch+json',
      body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } },
    })
    assert.equal(r.status, 200, r.body)
    const fresh = await waitFor('the restarted Deployment\'s new Pod', 180_000, async () => {
      const d = await get(`/apis/apps/v1/namespaces/${appNs}/deployments/payments-api`)
      if (d.status?.['updatedReplicas'] !== 1 || d.status['replicas'] !== 1 || !conditionTrue(d, 'Available')) return undefined
      const pods = (await list(`/api/v1/namespaces/${appNs}/pods?labelSelector=app=payments-api`))
        .filter((p) => !before.some((b) => b.metadata.uid === p.metadata.uid) && p.status?.['phase'] === 'Running')
      return pods.length === 1 ? pods[0] : undefined
    })
    assertInjected(fresh.metadata, ['bank-api', 'tax-gw'])

    // The Job created under the old configuration: its template is immutable, and a
    // change of its labels must still be admitted.
    const job = await get<{ metadata: Meta, spec: { template: PodTemplate } }>(`/apis/batch/v1/namespaces/${appNs}/jobs/nightly-export`)
    const u = await kubeRequest(kc(), {
      method: 'PATCH',
      path: `/apis/batch/v1/namespaces/${appNs}/jobs/nightly-export`,
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { 'audit': 'done' } } },
    })
    assert.equal(u.status, 200, `UPDATE of a Job admitted under the old configuration: ${u.body}`)
    const updated = JSON.parse(u.body) as { spec: { template: PodTemplate } }
    assert.deepEqual(updated.spec.template, job.spec.template)
  })

  test('helm upgrade with an egressGateway target: its objects at the gateway; a labelled Deployment\'s Pods carry its label and no egress-mtls volume', { timeout: 600_000 }, async () => {
    const gateway = { ...target('gw-api', 'api.gw.example.com'), origination: 'egressGateway' }
    const upgraded = {
      ...baseValues,
      config: { ...baseValues.config, targets: [...baseValues.config.targets, target('tax-gw', 'api.tax.example.com'), gateway] },
    }
    const t0 = Date.now()
    await helm('upgrade', release, chartDir, '-n', releaseNs, '-f', await valuesFile('upgrade-gateway', upgraded), '--wait', '--timeout', '5m')
    process.stderr.write(`[node] helm upgrade (egressGateway target) --wait: ${Date.now() - t0} ms\n`)
    // The provision Job, with the chart's RBAC and policy, wrote the gateway side in istio-system.
    for (const [group, plural] of [['networking.istio.io', 'gateways'], ['security.istio.io', 'authorizationpolicies'], ['networking.istio.io', 'destinationrules']]) {
      const names = (await list(`/apis/${group}/v1/namespaces/istio-system/${plural}`)).map((o) => o.metadata.name)
      assert.deepEqual(names, ['egress-mtls-gw-api-gateway'], plural)
    }
    assert.ok((await list(`/apis/networking.istio.io/v1/namespaces/${appNs}/destinationrules`)).some((o) => o.metadata.name === 'egress-mtls-gw-api-hop'))
    const only = (name: string): Record<string, unknown> => {
      const a = app(name) as { metadata: Record<string, unknown> }
      return { ...a, metadata: { ...a.metadata, annotations: { 'egress-mtls.io/targets': 'gw-api' } } }
    }
    await waitFor('the webhook serves the egressGateway target', 180_000, async () => {
      const r = await kubeJson(kc(), { method: 'POST', path: `/apis/apps/v1/namespaces/${appNs}/deployments?dryRun=All`, body: only('probe') }) as { spec: { template: PodTemplate } }
      return r.spec.template.metadata?.annotations?.['egress-mtls.io/injected'] === 'gw-api' ? true : undefined
    })
    await create(`/apis/apps/v1/namespaces/${appNs}/deployments`, only('gateway-client'))
    const pods = await waitFor('Deployment gateway-client available', 180_000, async () => {
      const d = await get(`/apis/apps/v1/namespaces/${appNs}/deployments/gateway-client`)
      if (!conditionTrue(d, 'Available')) return undefined
      return await list(`/api/v1/namespaces/${appNs}/pods?labelSelector=app=gateway-client`)
    })
    assert.equal(pods.length, 1)
    const pod = pods[0]!
    assert.equal(pod.metadata.labels?.['egress-mtls.io/gw-api'], 'true')
    assert.equal(pod.metadata.annotations?.['egress-mtls.io/injected'], 'gw-api')
    const annotations = Object.keys(pod.metadata.annotations ?? {})
    assert.deepEqual(annotations.filter((k) => k.startsWith('sidecar.istio.io/')), [], 'no userVolume or userVolumeMount')
    const volumes = ((pod.spec?.['volumes'] ?? []) as { name: string }[]).map((v) => v.name)
    assert.deepEqual(volumes.filter((v) => v.startsWith('egress-mtls')), [], `volumes: ${volumes.join(', ')}`)
  })

  test('the CronJobs (certs renewal, provision), run once on demand, complete and change nothing', { timeout: 600_000 }, async () => {
    const cronJobs = await list(`/apis/batch/v1/namespaces/${releaseNs}/cronjobs?labelSelector=app.kubernetes.io/instance=${release}`)
    assert.deepEqual(cronJobs.map((c) => c.metadata.labels?.['app.kubernetes.io/component']).sort(), ['certs', 'provision'])
    const tlsBefore = await get<{ data: Record<string, string> }>(`/api/v1/namespaces/${releaseNs}/secrets/${release}-egress-mtls-webhook-tls`)
    const istioBefore = await istioObjects()
    // kubectl create job --from=cronjob/NAME
    await Promise.all(cronJobs.map(async (cj) => {
      const jobTemplate = cj.spec?.['jobTemplate'] as { metadata?: Meta, spec: unknown }
      const name = `${cj.metadata.name}-manual`.slice(0, 63)
      await create(`/apis/batch/v1/namespaces/${releaseNs}/jobs`, {
        metadata: {
          name,
          labels: jobTemplate.metadata?.labels,
          annotations: { 'cronjob.kubernetes.io/instantiate': 'manual' },
          ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cj.metadata.name, uid: cj.metadata.uid, controller: true }],
        },
        spec: jobTemplate.spec,
      })
      await jobDone(releaseNs, name, 300_000)
    }))
    const tlsAfter = await get<{ data: Record<string, string> }>(`/api/v1/namespaces/${releaseNs}/secrets/${release}-egress-mtls-webhook-tls`)
    assert.deepEqual(tlsAfter.data, tlsBefore.data, 'a valid certificate is not renewed')
    assert.deepEqual(await istioObjects(), istioBefore, 'the provisioner applied no change')
  })

  test('evicting each webhook pod in turn under load loses no admission: the PDB refuses a second eviction at a time, the other replica answers', { timeout: 600_000 }, async () => {
    const pods = await list(`/api/v1/namespaces/${releaseNs}/pods?labelSelector=app.kubernetes.io/component=webhook`)
    assert.equal(pods.length, 2)
    // The chart's shutdown delay is what makes this hold: each evicted pod serves on, ending
    // kube-apiserver's pooled connections with answers, before it closes the idle ones.
    for (const pod of pods) assert.equal(pod.spec?.['terminationGracePeriodSeconds'], 35)
    let stop = false
    let ok = 0
    const failures: string[] = []
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stop && i < 100_000; i++) {
        const r = await kubeRequest(kc(), { method: 'POST', path: `/apis/apps/v1/namespaces/${appNs}/deployments?dryRun=All`, body: app(`load-${w}-${i}`) })
        const injected = r.status === 201 && (JSON.parse(r.body) as { spec: { template: PodTemplate } }).spec.template.metadata?.annotations?.['egress-mtls.io/injected'] !== undefined
        if (injected) ok++
        else failures.push(`${r.status}: ${r.body.slice(0, 1000)}`)
      }
    }
    const load = [0, 1, 2, 3].map(worker)
    await sleep(2_000)
    const evict = (name: string): Promise<{ status: number, body: string }> => kubeRequest(kc(), {
      method: 'POST',
      path: `/api/v1/namespaces/${releaseNs}/pods/${name}/eviction`,
      body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: releaseNs } },
    })
    const twoReady = (): Promise<unknown> => waitFor('two Ready webhook replicas again', 180_000, async () => {
      const d = await get(`/apis/apps/v1/namespaces/${releaseNs}/deployments/${release}-egress-mtls-webhook`)
      const live = await list(`/api/v1/namespaces/${releaseNs}/pods?labelSelector=app.kubernetes.io/component=webhook`)
      return d.status?.['readyReplicas'] === 2 && live.length === 2 ? true : undefined
    })
    for (const [i, pod] of pods.entries()) {
      const first = await evict(pod.metadata.name)
      assert.equal(first.status, 201, first.body)
      if (i === 0) {
        const second = await evict(pods[1]!.metadata.name)
        assert.equal(second.status, 429, `the PodDisruptionBudget keeps one replica: ${second.body}`)
      }
      await twoReady()
    }
    await sleep(2_000)
    stop = true
    await Promise.all(load)
    process.stderr.write(`[node] admissions during the evictions: ${ok} injected, ${failures.length} failed\n`)
    assert.deepEqual(failures, [])
    assert.ok(ok > 40, `only ${ok} admissions during the test`)
  })

  test('helm uninstall removes everything of the release and nothing else', { timeout: 600_000 }, async () => {
    await helm('uninstall', release, '-n', releaseNs, '--wait', '--timeout', '5m')
    // The garbage collector removes what the release's objects owned (ReplicaSets, Pods, Jobs).
    const leftovers = await waitFor('the release\'s objects gone', 180_000, async () => {
      const now = await snapshot()
      const ours = [...now.entries()]
        .filter(([k, o]) => !initial.has(k) && (k.includes(` ${releaseNs}/`) || isOurs(o)))
        .map(([k]) => k)
      if (ours.length > 0) throw new Error(`still there: ${ours.join(', ')}`)
      return now
    })
    const removed = [...initial.keys()].filter((k) => !leftovers.has(k))
    assert.deepEqual(removed, [], 'objects that existed before the install were removed')
    assert.deepEqual(await istioObjects(), [], 'the Istio objects were pruned')
    assert.ok(leftovers.has(`Deployment ${appNs}/payments-api`), 'the user\'s workloads stay')
  })

  test('helm uninstall removes the webhook\'s serving-certificate Secret too (the pre-delete certs --uninstall Job)', async () => {
    assert.equal((await kubeRequest(kc(), { path: `/api/v1/namespaces/${releaseNs}/secrets/${release}-egress-mtls-webhook-tls` })).status, 404)
  })
})

/** The Istio objects in the application namespace: kind, name, resourceVersion. */
async function istioObjects (): Promise<string[]> {
  const out: string[] = []
  for (const r of ['serviceentries', 'destinationrules', 'virtualservices']) {
    for (const o of await list(`/apis/networking.istio.io/v1/namespaces/${appNs}/${r}`)) out.push(`${r}/${o.metadata.name}@${o.metadata.resourceVersion ?? ''}`)
  }
  return out.sort()
}

const snapshotResources = [
  '/api/v1/namespaces', '/api/v1/configmaps', '/api/v1/secrets', '/api/v1/serviceaccounts', '/api/v1/services',
  '/api/v1/pods', '/apis/apps/v1/deployments', '/apis/apps/v1/replicasets', '/apis/batch/v1/jobs',
  '/apis/batch/v1/cronjobs', '/apis/policy/v1/poddisruptionbudgets', '/apis/rbac.authorization.k8s.io/v1/roles',
  '/apis/rbac.authorization.k8s.io/v1/rolebindings', '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
  '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
  '/apis/networking.istio.io/v1/serviceentries', '/apis/networking.istio.io/v1/destinationrules', '/apis/networking.istio.io/v1/virtualservices',
  '/apis/networking.istio.io/v1/gateways', '/apis/security.istio.io/v1/authorizationpolicies',
]
let initial = new Map<string, Obj>()

/** Every object of the kinds a release could touch: "Kind namespace/name" -> object. */
async function snapshot (): Promise<Map<string, Obj>> {
  const out = new Map<string, Obj>()
  for (const path of snapshotResources) {
    const body = await get<{ kind: string, items: Obj[] }>(path)
    const kind = body.kind.replace(/List$/, '')
    for (const o of body.items) out.set(`${kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`, o)
  }
  return out
}

function isOurs (o: Obj): boolean {
  const l = o.metadata.labels ?? {}
  return l['app.kubernetes.io/instance'] === release || l['app.kubernetes.io/managed-by'] === 'egress-mtls' ||
    o.metadata.name.startsWith(`${release}-egress-mtls`)
}

/** A labelled Deployment running the image's Node, idle. */
function app (name: string): Record<string, unknown> {
  return {
    metadata: { name, labels: { 'egress-mtls.io/inject': 'true' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: podSpec(['-e', 'setInterval(() => {}, 1 << 30)']) },
    },
  }
}

function podSpec (nodeArgs: string[], restartPolicy = 'Always'): Record<string, unknown> {
  return {
    restartPolicy,
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: 1,
    securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [{
      name: 'app',
      image: `egress-mtls:${version}`,
      imagePullPolicy: 'Never',
      command: ['/nodejs/bin/node', ...nodeArgs],
      securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
      resources: { requests: { cpu: '10m', memory: '32Mi' } },
    }],
  }
}

/** The webhook's marks on a pod (template) for exactly these targets. */
function assertInjected (meta: PodTemplate['metadata'], targets: string[]): void {
  const a = meta?.annotations ?? {}
  const volumes = JSON.parse(a['sidecar.istio.io/userVolume'] ?? '{}') as Record<string, { secret?: { secretName?: string } }>
  const mounts = JSON.parse(a['sidecar.istio.io/userVolumeMount'] ?? '{}') as Record<string, { mountPath?: string }>
  assert.deepEqual(Object.keys(volumes).sort(), targets.map((t) => `egress-mtls-${t}`).sort(), JSON.stringify(a))
  for (const t of targets) {
    assert.equal(volumes[`egress-mtls-${t}`]?.secret?.secretName, `${t}-mtls`)
    assert.equal(mounts[`egress-mtls-${t}`]?.mountPath, `/etc/egress-mtls/${t}`)
    assert.equal(meta?.labels?.[`egress-mtls.io/${t}`], 'true')
  }
  assert.deepEqual((a['egress-mtls.io/injected'] ?? '').split(',').sort(), [...targets].sort())
}

/** Istio's template turns each member of a map-form userVolume(Mount) into a named volume (mount): `- name: KEY` then the value. */
function namedEntries (json = '{}'): Record<string, unknown>[] {
  const entries = JSON.parse(json) as Record<string, Record<string, unknown>>
  assert.ok(!Array.isArray(entries), `the chart's default annotationFormat is map: ${json}`)
  return Object.entries(entries).map(([name, value]) => ({ name, ...value }))
}

/** Where istio-proxy mounts the target's Secret, from the webhook's userVolumeMount annotation. */
function mountPathOf (pod: Obj, targetName: string): string {
  const mount = namedEntries(pod.metadata.annotations?.['sidecar.istio.io/userVolumeMount']).find((m) => m['name'] === `egress-mtls-${targetName}`)
  const path = mount?.['mountPath']
  assert.ok(typeof path === 'string', `no mount of target ${targetName}`)
  return path
}

/**
 * An injected Pod as Istio's sidecar template completes it (its userVolume and
 * userVolumeMount lines): each userVolume member a volume of the pod, each userVolumeMount
 * member a mount of the istio-proxy container, which here is the image's Node, idle. A new
 * Pod `name` with the injected pod's annotations and the webhook's labels, and no owner.
 */
function sidecarView (pod: Obj, name: string): Record<string, unknown> {
  const annotations = pod.metadata.annotations ?? {}
  const labels = Object.fromEntries(Object.entries(pod.metadata.labels ?? {}).filter(([k]) => k.startsWith('egress-mtls.io/')))
  const spec = podSpec(['-e', 'setInterval(() => {}, 1 << 30)']) as { containers: Record<string, unknown>[] }
  const app = spec.containers[0]!
  return {
    metadata: { name, labels: { ...labels, app: name }, annotations },
    spec: {
      ...spec,
      volumes: namedEntries(annotations['sidecar.istio.io/userVolume']),
      containers: [app, { ...app, name: 'istio-proxy', volumeMounts: namedEntries(annotations['sidecar.istio.io/userVolumeMount']) }],
    },
  }
}
