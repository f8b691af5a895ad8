// doctor: read what the checks need (namespace, Secrets, Istio objects, the workload or
// every workload of the namespace) and run the pure checks of core/doctor/doctor.ts and
// core/tls/client-material.ts on it. Reads only.
import { AppsV1Api, BatchV1Api, type ConfigurationOptions, CoreV1Api, type KubeConfig } from '@kubernetes/client-node'

import { about, type Finding } from '../core/base/findings.ts'
import { DNS1123_SUBDOMAIN_CHARACTERS } from '../core/base/name-patterns.ts'
import { fail, ok, type Result } from '../core/base/result.ts'
import { type Config, targetsForNamespace } from '../core/config/config.ts'
import { checkResource, checkServerNameVerification, checkSidecarInjection, checkWorkload, podTemplateMetadata, scanNamespace, type Workload } from '../core/doctor/doctor.ts'
import { checkGatewayWorkload } from '../core/doctor/gateway.ts'
import { checkIstioVersion, type Istiod } from '../core/doctor/istio-version.ts'
import { checkWaypoint } from '../core/doctor/waypoint.ts'
import { GATEWAY_API_VERSION, targetNamespaces, targetObjects } from '../core/istio/render.ts'
import { checkSecret } from '../core/tls/client-material.ts'
import { cliError } from '../errors.ts'
import { apiFailure } from './api-failure.ts'
import { getObject, istioApi, type LiveObject, resourceFor } from './istio.ts'
import { deadlineOptions, type RetryOptions, withRetry } from './retry.ts'
import { readSecretData } from './secrets.ts'

export interface DoctorOptions {
  readonly namespace: string
  /** `deployment/web`, `sts/db` or `web` (a Deployment). */
  readonly workload?: string
  /** Whose Istio resources to expect (`provision --instance`); default egress-mtls. */
  readonly instance?: string
  readonly now: Date
  /** Date.now() milliseconds after which transient errors are no longer retried. */
  readonly deadline: number
}

interface WorkloadKind {
  readonly kind: string
  readonly apiVersion: string
  readonly read: (kc: KubeConfig, name: string, namespace: string, options: ConfigurationOptions) => Promise<unknown>
  readonly list: (kc: KubeConfig, namespace: string, options: ConfigurationOptions) => Promise<{ items: unknown[] }>
}

type Read<Api> = (api: Api, name: string, namespace: string, options: ConfigurationOptions) => Promise<unknown>
type List<Api> = (api: Api, namespace: string, options: ConfigurationOptions) => Promise<{ items: unknown[] }>
const apps = (kind: string, read: Read<AppsV1Api>, list: List<AppsV1Api>): WorkloadKind => ({
  kind,
  apiVersion: 'apps/v1',
  read: (kc, name, namespace, options) => read(kc.makeApiClient(AppsV1Api), name, namespace, options),
  list: (kc, namespace, options) => list(kc.makeApiClient(AppsV1Api), namespace, options),
})
const batch = (kind: string, read: Read<BatchV1Api>, list: List<BatchV1Api>): WorkloadKind => ({
  kind,
  apiVersion: 'batch/v1',
  read: (kc, name, namespace, options) => read(kc.makeApiClient(BatchV1Api), name, namespace, options),
  list: (kc, namespace, options) => list(kc.makeApiClient(BatchV1Api), namespace, options),
})

const DEPLOYMENT = apps('Deployment', (a, name, namespace, o) => a.readNamespacedDeployment({ name, namespace }, o), (a, namespace, o) => a.listNamespacedDeployment({ namespace }, o))
const STATEFULSET = apps('StatefulSet', (a, name, namespace, o) => a.readNamespacedStatefulSet({ name, namespace }, o), (a, namespace, o) => a.listNamespacedStatefulSet({ namespace }, o))
const DAEMONSET = apps('DaemonSet', (a, name, namespace, o) => a.readNamespacedDaemonSet({ name, namespace }, o), (a, namespace, o) => a.listNamespacedDaemonSet({ namespace }, o))
const REPLICASET = apps('ReplicaSet', (a, name, namespace, o) => a.readNamespacedReplicaSet({ name, namespace }, o), (a, namespace, o) => a.listNamespacedReplicaSet({ namespace }, o))
const JOB = batch('Job', (a, name, namespace, o) => a.readNamespacedJob({ name, namespace }, o), (a, namespace, o) => a.listNamespacedJob({ namespace }, o))
const CRONJOB = batch('CronJob', (a, name, namespace, o) => a.readNamespacedCronJob({ name, namespace }, o), (a, namespace, o) => a.listNamespacedCronJob({ namespace }, o))
const ALL_KINDS: readonly WorkloadKind[] = [DEPLOYMENT, STATEFULSET, DAEMONSET, REPLICASET, JOB, CRONJOB]

/** kubectl's names and short names of the kinds egress-mtls injects. */
const KINDS: Readonly<Record<string, WorkloadKind>> = {
  deployment: DEPLOYMENT, deployments: DEPLOYMENT, deploy: DEPLOYMENT,
  statefulset: STATEFULSET, statefulsets: STATEFULSET, sts: STATEFULSET,
  daemonset: DAEMONSET, daemonsets: DAEMONSET, ds: DAEMONSET,
  replicaset: REPLICASET, replicasets: REPLICASET, rs: REPLICASET,
  job: JOB, jobs: JOB,
  cronjob: CRONJOB, cronjobs: CRONJOB, cj: CRONJOB,
}

/** `deployment/web` or `web` → the kind and the name; a usage error for anything else. */
export function parseWorkloadRef (ref: string): { kind: WorkloadKind, name: string } {
  const [first, second, ...rest] = ref.split('/')
  const kindName = second === undefined ? 'deployment' : (first ?? '').toLowerCase().replace(/\.(apps|batch)$/, '')
  const name = second ?? first ?? ''
  const kind = Object.hasOwn(KINDS, kindName) ? KINDS[kindName] : undefined
  if (kind === undefined || rest.length > 0 || !DNS1123_SUBDOMAIN_CHARACTERS.test(name)) {
    throw cliError('EMTLS_CLI_WORKLOAD_INVALID', ref)
  }
  return { kind, name }
}

/**
 * Every finding for the namespace, in a stable order: its targets' Secrets and Istio
 * objects, then the named workload, or without one every workload of the namespace that asks
 * for egress-mtls (scanNamespace), then Istio's sidecar injection.
 */
export async function doctor (kc: KubeConfig, config: Config, options: DoctorOptions): Promise<Finding[]> {
  const ref = options.workload === undefined ? undefined : parseWorkloadRef(options.workload)
  const { namespace } = options
  const retry: RetryOptions = { deadline: options.deadline }
  const bound = deadlineOptions(options.deadline)
  /** The object, undefined when there is none, or a failing finding when it cannot be read. `fn` retries itself unless `retried`. */
  const read = async <T>(what: string, fn: () => Promise<T>, retried = true): Promise<Result<T | undefined, Finding>> => {
    try {
      return ok(await (retried ? withRetry(fn, retry) : fn()))
    } catch (err) {
      const f = apiFailure(err)
      if (f.code === 404) return ok(undefined)
      return fail(about(what).fail(`cannot read: ${f.reason === undefined ? '' : `${f.reason}: `}${f.message}`))
    }
  }

  const core = kc.makeApiClient(CoreV1Api)
  const ns = await read(`Namespace ${namespace}`, () => core.readNamespace({ name: namespace }, bound))
  if (!ns.ok) return [ns.error]
  if (ns.value === undefined) return [about(`Namespace ${namespace}`).fail('not found')]
  const namespaceLabels = ns.value.metadata?.labels ?? {}

  const findings: Finding[] = []
  const targets = targetsForNamespace(config, namespace)
  if (targets.length === 0) findings.push(about(`Namespace ${namespace}`).warn('no target is available here (see targets[].namespaces)'))

  const istio = istioApi(kc)
  const checked = new Set<string>()
  for (const t of targets) {
    // At the egress gateway (the waypoint), the Secret is in the gateway's (the waypoint's) namespace only.
    const secretNs = t.origination === 'egressGateway' ? config.egressGateway.namespace : t.origination === 'waypoint' ? config.waypoint.namespace : namespace
    const secret = await read(`Secret ${secretNs}/${t.secretName}`, () => readSecretData(kc, secretNs, t.secretName, options.deadline), false)
    if (!secret.ok) findings.push(secret.error)
    else findings.push(...checkSecret(t, secretNs, secret.value, options.now))

    const unchecked = checkServerNameVerification(t)
    if (unchecked !== undefined) findings.push(unchecked)
    const home = targetNamespaces(config, t).includes(namespace) ? namespace : config.meshRootNamespace
    for (const desired of targetObjects(config, t, home, options.instance)) {
      const { kind, metadata: { namespace: at, name } } = desired
      // A host's shared objects are checked once, with the first target they serve.
      if (checked.has(`${kind} ${at}/${name}`)) continue
      checked.add(`${kind} ${at}/${name}`)
      const live = await read(`${kind} ${at}/${name}`, () => getObject(istio, resourceFor(desired.apiVersion, kind), at, name, options.deadline))
      findings.push(live.ok ? checkResource(desired, live.value) : live.error)
    }
  }
  if (targets.some((t) => t.origination === 'egressGateway')) findings.push(...await gatewayWorkload(kc, config, read, bound))
  if (targets.some((t) => t.origination === 'waypoint')) {
    const { name, namespace: at } = config.waypoint
    const gw = await read(`waypoint ${at}/${name}`, () => getObject(istio, resourceFor(GATEWAY_API_VERSION, 'Gateway'), at, name, options.deadline))
    if (!gw.ok) findings.push(gw.error)
    else {
      const live = gw.value as (LiveObject & { spec?: { gatewayClassName?: string } }) | undefined
      const className = live?.spec?.gatewayClassName
      const seen = live === undefined ? undefined : { labels: live.metadata.labels ?? {}, ...(className === undefined ? {} : { gatewayClassName: className }) }
      findings.push(...checkWaypoint(config, namespace, namespaceLabels, seen))
    }
  }

  if (targets.length > 0) findings.push(...await istioVersion(kc, config.meshRootNamespace, read, bound))

  let podLabels: Readonly<Record<string, string>> = {}
  if (ref !== undefined) {
    const what = `${ref.kind.kind.toLowerCase()}/${ref.name}`
    const object = await read(what, () => ref.kind.read(kc, ref.name, namespace, bound))
    if (!object.ok) findings.push(object.error)
    else if (object.value === undefined) findings.push(about(what).fail(`not found in namespace ${namespace}`))
    else {
      const w = plain(ref.kind, object.value)
      findings.push(...checkWorkload(config, namespace, namespaceLabels, w))
      podLabels = podTemplateMetadata(w).labels
    }
  } else {
    const workloads: Workload[] = []
    for (const kind of ALL_KINDS) {
      const list = await read(`${kind.kind} list in namespace ${namespace}`, () => kind.list(kc, namespace, bound))
      if (!list.ok) findings.push(list.error)
      else workloads.push(...(list.value?.items ?? []).map((item) => plain(kind, item)))
    }
    findings.push(...scanNamespace(config, namespace, namespaceLabels, workloads))
  }
  // An ambient namespace whose targets are all at the waypoint has no sidecar to check.
  if (targets.length === 0 || targets.some((t) => t.origination !== 'waypoint')) findings.push(checkSidecarInjection(namespace, namespaceLabels, podLabels))
  return findings
}

type Reader = <T>(what: string, fn: () => Promise<T>, retried?: boolean) => Promise<Result<T | undefined, Finding>>

/** The egress gateway: its Service, and its pods (by the configured selector) ready. */
async function gatewayWorkload (kc: KubeConfig, config: Config, read: Reader, bound: ConfigurationOptions): Promise<Finding[]> {
  const core = kc.makeApiClient(CoreV1Api)
  const { namespace, selector, service } = config.egressGateway
  const name = service.split('.')[0] ?? service
  const svc = await read(`Service ${namespace}/${name}`, () => core.readNamespacedService({ name, namespace }, bound))
  const labelSelector = Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',')
  const pods = await read(`Pods ${labelSelector} in namespace ${namespace}`, () => core.listNamespacedPod({ namespace, labelSelector }, bound))
  if (!svc.ok || !pods.ok) return [...(svc.ok ? [] : [svc.error]), ...(pods.ok ? [] : [pods.error])]
  const ready = (p: { status?: { conditions?: { type: string, status: string }[] } }): boolean =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
  return checkGatewayWorkload(config.egressGateway, svc.value !== undefined, (pods.value?.items ?? []).map((p) => ({ name: p.metadata?.name ?? '', ready: ready(p) })))
}

/**
 * The istiod Deployments of the mesh root namespace (label app=istiod, one per revision) and
 * their version (core/doctor/istio-version.ts). Not being allowed to read them is a warning.
 */
async function istioVersion (kc: KubeConfig, root: string, read: Reader, options: ConfigurationOptions): Promise<Finding[]> {
  const list = await read(`Istio (${root})`, () => kc.makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace: root, labelSelector: 'app=istiod' }, options))
  if (!list.ok) return [{ ...list.error, level: 'warn', message: `${list.error.message}: cannot tell whether the sidecars reload a renewed client certificate` }]
  const istiods: Istiod[] = (list.value?.items ?? []).map((d) => {
    const containers = d.spec?.template.spec?.containers ?? []
    const image = (containers.find((c) => c.name === 'discovery') ?? (containers.length === 1 ? containers[0] : undefined))?.image
    return { name: d.metadata?.name ?? '', ...(image === undefined ? {} : { image }), labels: { ...d.metadata?.labels } }
  })
  return checkIstioVersion(root, istiods)
}

/** Typed client objects carry Date instances and no kind; the checks read plain JSON, as the webhook does. */
function plain (kind: WorkloadKind, object: unknown): Workload {
  return { ...(JSON.parse(JSON.stringify(object)) as Workload), apiVersion: kind.apiVersion, kind: kind.kind }
}
