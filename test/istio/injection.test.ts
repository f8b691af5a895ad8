// Istio tier: workloads patched by egress-mtls (the `inject` command, i.e. admit()) go
// through Istio's sidecar injector as `istioctl kube-inject` runs it, with the default
// profile's templates, values and mesh config (istio-check inject), with classic and with
// native sidecars. The pod gets volume egress-mtls-<target> from the right Secret and
// items, istio-proxy mounts it read-only at <mountRoot>/<target>, the application
// container does not, and the user's own userVolume(Mount)s, in map and array form, survive.
// Each workload goes in as itself and as the Pod its controller creates from its template
// (what Istio's webhook injects on a cluster, through the same template code).
import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { parseAllDocuments } from 'yaml'

import { TWO_TARGETS_CONFIG } from '../support/config.ts'
import { BUILD_TIMEOUT_MS, egressMtls, istioCheck, istioCheckBinary, pilotAgentBootstrap, yamlDocuments } from './istio-check.ts'

await test('istio-check is built (or found in the cache)', { timeout: BUILD_TIMEOUT_MS }, async () => {
  await istioCheckBinary()
})

const CONFIG = `\nmountRoot: /var/run/egress${TWO_TARGETS_CONFIG}`

// The user's own volumes: map form on the Deployment, array form on the StatefulSet and
// the CronJob (egress-mtls keeps the form it finds).
const MANIFESTS = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: checkout, namespace: payments, labels: { egress-mtls.io/inject: "true" } }
spec:
  selector: { matchLabels: { app: checkout } }
  template:
    metadata:
      labels: { app: checkout }
      annotations:
        sidecar.istio.io/userVolume: '{"bootstrap":{"configMap":{"name":"envoy-bootstrap"}}}'
        sidecar.istio.io/userVolumeMount: '{"bootstrap":{"mountPath":"/etc/bootstrap","readOnly":true}}'
    spec:
      containers: [{ name: app, image: "checkout:1.0" }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: ledger, namespace: payments, labels: { egress-mtls.io/inject: "true" } }
spec:
  serviceName: ledger
  selector: { matchLabels: { app: ledger } }
  template:
    metadata:
      labels: { app: ledger }
      annotations:
        sidecar.istio.io/userVolume: '[{"name":"extra-ca","secret":{"secretName":"extra-ca"}}]'
        sidecar.istio.io/userVolumeMount: '[{"name":"extra-ca","mountPath":"/etc/extra-ca"}]'
    spec:
      containers: [{ name: app, image: "ledger:1.0" }]
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: report, namespace: billing, labels: { egress-mtls.io/inject: "true" } }
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          annotations:
            sidecar.istio.io/userVolume: '[{"name":"scratch","emptyDir":{}}]'
            sidecar.istio.io/userVolumeMount: '[{"name":"scratch","mountPath":"/scratch"}]'
        spec:
          restartPolicy: OnFailure
          containers: [{ name: app, image: "report:1.0" }]
`

interface Mount { name: string, mountPath: string, readOnly?: boolean }
interface Container { name: string, volumeMounts?: Mount[], restartPolicy?: string }
interface Volume {
  name: string
  secret?: { secretName: string, items?: { key: string, path: string }[] }
  configMap?: { name: string }
  emptyDir?: object
}
interface PodSpec { containers: Container[], initContainers?: Container[], volumes?: Volume[] }
interface Template { metadata?: { labels?: Record<string, string>, annotations?: Record<string, string> }, spec: PodSpec }
interface Workload {
  kind: string,
  metadata: { name: string, namespace: string },
  spec: PodSpec & { template?: Template, jobTemplate?: { spec: { template: Template } } },
}
interface Injected { profile: string, nativeSidecars: boolean, objects: Workload[], warnings: string[] }

const template = (w: Workload): Template => {
  const t = w.spec.template ?? w.spec.jobTemplate?.spec.template
  assert.ok(t, `${w.kind}/${w.metadata.name}: no pod template`)
  return t
}
const podSpec = (w: Workload): PodSpec => w.kind === 'Pod' ? w.spec : template(w).spec

/** The Pod a workload's controller creates: the template's labels, annotations and spec. */
const podOf = (w: Workload): unknown => {
  const t = template(w)
  return { apiVersion: 'v1', kind: 'Pod', metadata: { ...t.metadata, name: `${w.metadata.name}-0`, namespace: w.metadata.namespace }, spec: t.spec }
}

const dir = await mkdtemp(join(tmpdir(), 'egress-mtls-istio-inject-'))
const configFile = join(dir, 'config.yaml')
await writeFile(configFile, CONFIG)

/** The manifests after `egress-mtls inject`, then (with their Pods) after Istio's injector. */
async function injectBoth (native: boolean): Promise<Injected> {
  const ours = await egressMtls(['inject', '--config', configFile], MANIFESTS)
  assert.equal(ours.code, 0, ours.stderr)
  assert.equal(ours.stderr, '')
  const workloads = parseAllDocuments(ours.stdout).map((d) => d.toJS() as Workload)
  assert.equal(workloads.length, 3)
  return await istioCheck('inject', yamlDocuments([...workloads, ...workloads.map(podOf)]), native ? { ENABLE_NATIVE_SIDECARS: 'true' } : {}) as Injected
}

const secretVolume = (target: string, secretName: string, keys: [string, string, string]): Volume => ({
  name: `egress-mtls-${target}`,
  secret: { secretName, items: [{ key: keys[0], path: 'cert' }, { key: keys[1], path: 'key' }, { key: keys[2], path: 'cacert' }] },
})
const BANK = secretVolume('bank-api', 'bank-api-mtls', ['cert', 'key', 'cacert'])
const TAX = secretVolume('tax-gw', 'tax-gw-client', ['tls.crt', 'tls.key', 'ca.crt'])
const mountOf = (target: string): Mount => ({ name: `egress-mtls-${target}`, mountPath: `/var/run/egress/${target}`, readOnly: true })

/** Expected per workload: our targets, and the user's own volume and mount. */
const EXPECTED: Record<string, { targets: Volume[], user: Volume, userMount: Mount }> = {
  checkout: { targets: [BANK, TAX], user: { name: 'bootstrap', configMap: { name: 'envoy-bootstrap' } }, userMount: { name: 'bootstrap', mountPath: '/etc/bootstrap', readOnly: true } },
  ledger: { targets: [BANK, TAX], user: { name: 'extra-ca', secret: { secretName: 'extra-ca' } }, userMount: { name: 'extra-ca', mountPath: '/etc/extra-ca' } },
  report: { targets: [TAX], user: { name: 'scratch', emptyDir: {} }, userMount: { name: 'scratch', mountPath: '/scratch' } },
}

for (const native of [false, true]) {
  test(`${native ? 'native' : 'classic'} sidecars: istio-proxy mounts each target's Secret read-only at <mountRoot>/<target>; the user's volumes survive`, async () => {
    const result = await injectBoth(native)
    assert.equal(result.profile, 'default')
    assert.equal(result.nativeSidecars, native)
    assert.deepEqual(result.warnings, [])
    assert.deepEqual(result.objects.map((o) => `${o.kind}/${o.metadata.name}`), [
      'Deployment/checkout', 'StatefulSet/ledger', 'CronJob/report', 'Pod/checkout-0', 'Pod/ledger-0', 'Pod/report-0',
    ])
    // kube-inject reads a CronJob's annotations from spec.jobTemplate.metadata, not from the pod
    // template, so it leaves out every userVolume of CronJob/report (see the last test); on a
    // cluster Istio's webhook injects the Pod, checked here as Pod/report-0.
    for (const w of result.objects.filter((o) => o.kind !== 'CronJob')) {
      const spec = podSpec(w)
      const expected = EXPECTED[w.metadata.name.replace(/-0$/, '')]
      assert.ok(expected)
      // classic: istio-proxy is a container; native: an init container that keeps running.
      const proxies = (native ? spec.initContainers : spec.containers)?.filter((c) => c.name === 'istio-proxy') ?? []
      assert.equal(proxies.length, 1, `${w.metadata.name}: one istio-proxy among the ${native ? 'init ' : ''}containers`)
      const proxy = proxies[0]!
      if (native) {
        assert.equal(proxy.restartPolicy, 'Always')
        assert.ok(!spec.containers.some((c) => c.name === 'istio-proxy'))
      }
      const volumes = spec.volumes ?? []
      const mounts = proxy.volumeMounts ?? []
      for (const v of [...expected.targets, expected.user]) {
        assert.deepEqual(volumes.filter((x) => x.name === v.name), [v], `${w.metadata.name}: volume ${v.name}`)
      }
      for (const m of [...expected.targets.map((v) => mountOf(v.name.replace(/^egress-mtls-/, ''))), expected.userMount]) {
        assert.deepEqual(mounts.filter((x) => x.name === m.name), [m], `${w.metadata.name}: istio-proxy mount ${m.name}`)
      }
      // Only the sidecar sees the client key.
      const app = spec.containers.find((c) => c.name === 'app')
      assert.ok(app)
      assert.ok(!(app.volumeMounts ?? []).some((m) => m.name.startsWith('egress-mtls-')), `${w.metadata.name}: the application mounts no certificate`)
      // No volume without a mount or the other way round: the names line up.
      assert.equal(new Set(volumes.map((v) => v.name)).size, volumes.length, `${w.metadata.name}: volume names are unique`)
    }
  })
}

test('istioctl kube-inject on a CronJob reads spec.jobTemplate.metadata, not the pod template: it adds none of the pod template\'s userVolumes', async () => {
  const result = await injectBoth(false)
  const cronJob = result.objects.find((o) => o.kind === 'CronJob')
  assert.ok(cronJob)
  assert.ok(podSpec(cronJob).containers.some((c) => c.name === 'istio-proxy'), 'the sidecar is injected')
  assert.deepEqual((podSpec(cronJob).volumes ?? []).filter((v) => v.name === 'scratch' || v.name.startsWith('egress-mtls-')), [])
})

test('a map-form userVolume(Mount) entry whose inner "name" differs from its key: Istio\'s injector names it after "name"; egress-mtls denies it where it touches a target\'s name (EMTLS_USER_VOLUME_NAME_MISMATCH)', async () => {
  const bankMount = { mountPath: '/var/run/egress/bank-api', readOnly: true }
  const bankSecret = { secretName: 'bank-api-mtls', items: [{ key: 'cert', path: 'cert' }, { key: 'key', path: 'key' }, { key: 'cacert', path: 'cacert' }] }
  /** A Deployment opted in to bank-api, with these annotations on its pod template. */
  const deployment = (name: string, annotations: Record<string, unknown>): Workload => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'payments', labels: { 'egress-mtls.io/inject': 'true' } },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations: Object.fromEntries(Object.entries(annotations).map(([k, v]) => [`sidecar.istio.io/${k}`, JSON.stringify(v)])) },
        spec: { containers: [{ name: 'app', image: `${name}:1` }] },
      },
    },
  } as unknown as Workload)
  const cases = [
    // Ours (as egress-mtls would write them) but the volume's inner name is another.
    deployment('ours-renamed', { userVolume: { 'egress-mtls-bank-api': { name: 'elsewhere', secret: bankSecret } }, userVolumeMount: { 'egress-mtls-bank-api': bankMount } }),
    // Ours, but the mount's inner name is the user's volume: istio-proxy mounts it at our path.
    deployment('mount-renamed', { userVolume: { 'egress-mtls-bank-api': { secret: bankSecret }, scratch: { emptyDir: {} } }, userVolumeMount: { 'egress-mtls-bank-api': { name: 'scratch', ...bankMount } } }),
    // Another key naming ours: a second volume egress-mtls-bank-api, from the user's Secret.
    deployment('another-key', { userVolume: { 'egress-mtls-bank-api': { secret: bankSecret }, cache: { name: 'egress-mtls-bank-api', secret: { secretName: 'forged' } } }, userVolumeMount: { 'egress-mtls-bank-api': bankMount } }),
  ]
  // Istio's injector on these pods as they are (the pods a cluster would get if egress-mtls let them be).
  const result = await istioCheck('inject', yamlDocuments(cases.map(podOf))) as Injected
  const seen = Object.fromEntries(result.objects.map((o) => {
    const spec = podSpec(o)
    const proxy = spec.containers.find((c) => c.name === 'istio-proxy')
    const ours = (proxy?.volumeMounts ?? []).filter((m) => m.mountPath === bankMount.mountPath)
    return [o.metadata.name.replace(/-0$/, ''), {
      volumes: (spec.volumes ?? []).filter((v) => ['egress-mtls-bank-api', 'elsewhere', 'scratch', 'cache'].includes(v.name)).map((v) => `${v.name}:${v.secret?.secretName ?? 'emptyDir'}`).sort(),
      mountedAtOurPath: ours.map((m) => m.name),
    }]
  }))
  assert.deepEqual(seen, {
    // The mount names a volume that does not exist: the API server refuses the pod (volumeMounts[].name: Not found).
    'ours-renamed': { volumes: ['elsewhere:bank-api-mtls'], mountedAtOurPath: ['egress-mtls-bank-api'] },
    // istio-proxy reads the user's volume where it expects the client certificate.
    'mount-renamed': { volumes: ['egress-mtls-bank-api:bank-api-mtls', 'scratch:emptyDir'], mountedAtOurPath: ['scratch'] },
    // Two volumes of one name: the API server refuses the pod (volumes[].name: Duplicate value).
    'another-key': { volumes: ['egress-mtls-bank-api:bank-api-mtls', 'egress-mtls-bank-api:forged'], mountedAtOurPath: ['egress-mtls-bank-api'] },
  })

  // egress-mtls denies each, saying which entry and why.
  for (const w of cases) {
    const r = await egressMtls(['inject', '--config', configFile], yamlDocuments([w]))
    assert.equal(r.code, 1, `${w.metadata.name}: ${r.stdout}`)
    assert.match(r.stderr, /Deployment\/[a-z-]+: denied: pod template annotation sidecar\.istio\.io\/userVolume(Mount)? has an entry "[a-z-]+" whose "name" is "[a-z-]+": Istio's injector names it after "name"/, w.metadata.name)
  }
  // The same entries with the inner name equal to the key pass.
  const fine = deployment('fine', { userVolume: { 'egress-mtls-bank-api': { name: 'egress-mtls-bank-api', secret: bankSecret } }, userVolumeMount: { 'egress-mtls-bank-api': { name: 'egress-mtls-bank-api', ...bankMount } } })
  const ok = await egressMtls(['inject', '--config', configFile], yamlDocuments([fine]))
  assert.equal(ok.code, 0, ok.stderr)
})

test('tlsStats: Istio\'s injector takes egress-mtls\'s proxy.istio.io/config into the sidecar\'s ProxyConfig (proxyStatsMatcher with one regexp per target host); a workload\'s own value is kept, with EMTLS_PROXY_CONFIG_KEPT', async () => {
  const statsConfig = join(dir, 'tls-stats.yaml')
  await writeFile(statsConfig, `${CONFIG}tlsStats: true\n`)
  const deployment = (name: string, annotations: Record<string, string>): unknown => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'payments', labels: { 'egress-mtls.io/inject': 'true' } },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name }, annotations }, spec: { containers: [{ name: 'app', image: `${name}:1` }] } },
    },
  })
  const ours = await egressMtls(['inject', '--config', statsConfig], yamlDocuments([deployment('checkout', {})]))
  assert.equal(ours.code, 0, ours.stderr)
  assert.equal(ours.stderr, '')
  const own = await egressMtls(['inject', '--config', statsConfig], yamlDocuments([deployment('ledger', { 'proxy.istio.io/config': 'concurrency: 2' })]))
  assert.equal(own.code, 0, own.stderr)
  assert.match(own.stderr, /warning: .*pod template annotation proxy\.istio\.io\/config is the workload's own: left as it is/)
  const workloads = [...parseAllDocuments(ours.stdout), ...parseAllDocuments(own.stdout)].map((d) => d.toJS() as Workload)
  const result = await istioCheck('inject', yamlDocuments([...workloads, ...workloads.map(podOf)])) as Injected
  assert.deepEqual(result.warnings, [])
  const proxyConfigEnv = (w: Workload): string => {
    const proxy = podSpec(w).containers.find((c) => c.name === 'istio-proxy') as (Container & { env?: { name: string, value?: string }[] }) | undefined
    const env = proxy?.env?.find((e) => e.name === 'PROXY_CONFIG')
    assert.ok(env?.value !== undefined, `${w.kind}/${w.metadata.name}: istio-proxy has PROXY_CONFIG`)
    return env.value
  }
  const proxyConfig = (w: Workload): { proxyStatsMatcher?: { inclusionRegexps?: string[] }, concurrency?: number } =>
    JSON.parse(proxyConfigEnv(w)) as ReturnType<typeof proxyConfig>
  const regexps = ['api.bank.example.com', 'gw.tax.example.org'].map((h) => `cluster\\.outbound\\|[0-9]+\\|\\|${h.replaceAll('.', '\\.')};\\.ssl\\..*`)
  for (const w of result.objects) {
    const pc = proxyConfig(w)
    if (w.metadata.name.startsWith('checkout')) {
      assert.deepEqual(pc.proxyStatsMatcher, { inclusionRegexps: regexps }, `${w.kind}/${w.metadata.name}`)
    } else {
      assert.equal(pc.proxyStatsMatcher, undefined, `${w.kind}/${w.metadata.name}`)
      assert.equal(pc.concurrency, 2, `${w.kind}/${w.metadata.name}: the workload's own ProxyConfig`)
    }
  }

  // pilot-agent, given that PROXY_CONFIG, writes Envoy's stats matcher with the regexps
  // beside Istio's own inclusions.
  interface Pattern { prefix?: string, suffix?: string, safe_regex?: { regex: string } }
  const patterns = async (w: Workload): Promise<Pattern[]> => {
    interface Bootstrap { stats_config?: { stats_matcher?: { inclusion_list?: { patterns?: Pattern[] } } } }
    const b = await pilotAgentBootstrap(proxyConfigEnv(w)) as Bootstrap
    return b.stats_config?.stats_matcher?.inclusion_list?.patterns ?? []
  }
  const checkout = await patterns(result.objects.find((o) => o.kind === 'Pod' && o.metadata.name === 'checkout-0')!)
  for (const regex of regexps) assert.deepEqual(checkout.filter((p) => p.safe_regex?.regex === regex), [{ safe_regex: { regex } }], regex)
  assert.ok(checkout.some((p) => p.prefix === 'cluster_manager'), 'Istio\'s own inclusions stay')
  const ledger = await patterns(result.objects.find((o) => o.kind === 'Pod' && o.metadata.name === 'ledger-0')!)
  assert.deepEqual(ledger.filter((p) => p.safe_regex?.regex.includes('.ssl') === true), [], 'none for the workload that kept its own value')
})
