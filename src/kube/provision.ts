// provision: make the cluster hold exactly the rendered Istio objects. Server-side apply of
// what differs, deletion of what our instance owns and no longer wants, objects at our names
// that are not ours left alone (conflicts) unless adopted, then a second look to confirm.
import { CoreV1Api, type CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node'

import type { Config } from '../core/config/config.ts'
import { type Action, conflictMessage, countActions, formatEntry, matches, owner, plan, type PlanEntry } from '../core/istio/plan.ts'
import { type IstioObject, ownedBy, render } from '../core/istio/render.ts'
import { cliErrorFrom } from '../errors.ts'
import type { ApiFailure } from './api-failure.ts'
import { apiFailure } from './api-failure.ts'
import { apply, deleteOwned, getObject, istioApi, listOwned, type LiveObject, replaceSpec, resourceFor } from './istio.ts'
import { deadlineOptions, type RetryOptions, withRetry } from './retry.ts'

export interface ProvisionOptions {
  /** Whose objects these are: the `egress-mtls.io/instance` label. */
  readonly instance: string
  /** Print the plan, change nothing. */
  readonly dryRun: boolean
  /** Delete what we own and no longer want. */
  readonly prune: boolean
  /** Take over objects at our names that are not ours (otherwise: conflicts, left alone). */
  readonly adopt: boolean
  /** Date.now() milliseconds after which transient errors are no longer retried. */
  readonly deadline: number
  /** A line of what was done (not called for a dry run: the plan is returned). */
  readonly out: (line: string) => void
  /** A warning or a retry notice. */
  readonly warn: (line: string) => void
}

export interface ProvisionResult {
  /** What was planned (dry run) or done, by action. */
  readonly counts: Readonly<Record<Action, number>>
  /** The plan (for a dry run; what was planned otherwise). */
  readonly entries: readonly PlanEntry[]
  /** One line per object that could not be brought in line, naming it and the API's reason or the conflict. */
  readonly failures: readonly string[]
}

const where = (e: Pick<PlanEntry, 'kind' | 'namespace' | 'name'>): string => `${e.kind} ${e.namespace}/${e.name}`
const keyOf = (o: { kind: string, metadata: { namespace: string, name: string } }): string => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`

/** `Invalid (422): ServiceEntry.networking.istio.io "x" is invalid: ...` */
function describe (f: ApiFailure): string {
  if (f.reason !== undefined) return `${f.reason} (${f.code ?? '?'}): ${f.message}`
  return f.code === undefined ? f.message : `HTTP ${f.code}: ${f.message}`
}

const reason = (err: unknown): string => describe(apiFailure(err))

/** Provisions `config`; with no configuration, deletes everything the instance owns (uninstall). */
export async function provision (kc: KubeConfig, config: Config | undefined, options: ProvisionOptions): Promise<ProvisionResult> {
  const { instance } = options
  const api = istioApi(kc)
  const retry = (what: string): RetryOptions => ({
    deadline: options.deadline,
    onRetry: (f, attempt, delay) => { options.warn(`${what}: ${describe(f)}; retry ${attempt} in ${delay} ms`) },
  })
  const desired = config === undefined ? [] : render(config, instance)
  const planOptions = {
    instance,
    prune: options.prune || config === undefined,
    adopt: options.adopt,
    ...(config === undefined ? { deleteReason: `uninstall: everything of instance "${instance}" goes` } : {}),
  }
  // What the plan reads: our instance's objects everywhere, and whatever holds a rendered
  // name (a conflict unless it is ours).
  const look = async (): Promise<PlanEntry[]> => {
    let owned: LiveObject[]
    try {
      owned = await withRetry(() => listOwned(api, instance, options.deadline), retry('list Istio objects'))
    } catch (err) {
      throw cliErrorFrom(err, 'EMTLS_CLI_OWNED_UNLISTED', reason(err))
    }
    // A Gateway API Gateway and Istio's may share a name: the apiVersion tells them apart.
    const known = new Set(owned.map((o) => `${o.apiVersion ?? ''} ${keyOf(o)}`))
    const others = await Promise.all(desired.filter((d) => !known.has(`${d.apiVersion} ${keyOf(d)}`)).map(async (d) => {
      try {
        return await withRetry(() => getObject(api, resourceFor(d.apiVersion, d.kind), d.metadata.namespace, d.metadata.name, options.deadline), retry(`get ${keyOf(d)}`))
      } catch (err) {
        throw cliErrorFrom(err, 'EMTLS_CLI_OBJECT_UNREADABLE', keyOf(d), reason(err))
      }
    }))
    return plan(desired, [...owned, ...others.filter((o) => o !== undefined)], planOptions)
  }
  const entries = await look()
  if (config !== undefined) await reportMissingSecrets(kc, config, options.deadline, retry, options.warn)
  const conflicts = entries.filter((e) => e.action === 'conflict').map((e) => conflictMessage(e, instance))

  if (options.dryRun) return { counts: countActions(entries), entries, failures: conflicts }

  const failures: string[] = []
  const done: PlanEntry[] = []
  for (const e of entries) {
    if (e.action === 'conflict') {
      done.push(e)
      options.out(formatEntry(e))
      continue
    }
    try {
      if (e.action === 'delete') {
        const result = await withRetry(() => deleteOwned(api, resourceFor(e.apiVersion, e.kind), e.namespace, e.name, instance, options.deadline), retry(`delete ${where(e)}`))
        if (result === 'not ours') options.warn(`${where(e)}: no longer carries the labels of instance "${instance}"; left alone`)
      } else if (e.action !== 'unchanged' && e.desired !== undefined) {
        const d = e.desired
        const result = await withRetry(() => applyOwned(api, d, instance, e.action === 'adopt', options.deadline), retry(`apply ${where(e)}`))
        if (result !== undefined) {
          const conflict: PlanEntry = { ...e, action: 'conflict', live: result, reason: owner(result.metadata.labels) }
          conflicts.push(conflictMessage(conflict, instance))
          done.push(conflict)
          options.out(formatEntry(conflict))
          continue
        }
      }
      done.push(e)
      options.out(formatEntry(e))
    } catch (err) {
      failures.push(`${where(e)}: ${e.action} failed: ${reason(err)}`)
    }
  }
  if (failures.length > 0 || conflicts.length > 0) return { counts: countActions(done), entries, failures: [...conflicts, ...failures] }

  // A second look: exit 0 only when the cluster holds what was rendered.
  const left = (await look()).filter((e) => e.action !== 'unchanged')
  return { counts: countActions(done), entries, failures: left.map((e) => `${where(e)}: still differs after provisioning (${e.action} needed); another writer may be changing it`) }
}

/**
 * Applies `o` if the object at its name is ours (or absent, or `adopt`): read again first,
 * then server-side apply on that version (a 409 means it changed meanwhile: retried, read
 * again). When the result still differs (a field only another manager set, which apply does
 * not remove), the spec is replaced on that exact version. Returns the object found instead
 * when it is someone else's: nothing was written. A create cannot be made conditional with
 * server-side apply: an object someone makes at that name between the read and the apply
 * would be taken over (the chart's admission policy refuses that write to its provisioner).
 */
async function applyOwned (
  api: CustomObjectsApi, o: IstioObject, instance: string, adopt: boolean, deadline: number,
): Promise<LiveObject | undefined> {
  const live = await getObject(api, resourceFor(o.apiVersion, o.kind), o.metadata.namespace, o.metadata.name, deadline)
  if (live !== undefined && !adopt && !ownedBy(live.metadata.labels, instance)) return live
  const applied = await apply(api, o, deadline, live?.metadata.resourceVersion)
  if (matches(o, applied)) return undefined
  await replaceSpec(api, applied, o, deadline)
  return undefined
}

/** Warns about each namespace where a target's Secret is missing (Secret `get` only). */
async function reportMissingSecrets (
  kc: KubeConfig,
  config: Config,
  deadline: number,
  retry: (what: string) => RetryOptions, warn: (line: string) => void,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api)
  for (const t of config.targets) {
    // The gateway's (or waypoint's) Secret is the key itself: the provisioner never reads it (doctor does).
    if (t.origination !== 'sidecar') continue
    if (t.namespaces.includes('*')) {
      warn(`target ${t.name} is mesh-wide: Secret ${t.secretName} must exist in the namespace of each workload that uses it`)
      continue
    }
    for (const namespace of t.namespaces) {
      try {
        await withRetry(() => core.readNamespacedSecret({ name: t.secretName, namespace }, deadlineOptions(deadline)), retry(`get Secret ${namespace}/${t.secretName}`))
      } catch (err) {
        const f = apiFailure(err)
        warn(f.code === 404
          ? `Secret ${namespace}/${t.secretName} of target ${t.name} is missing: workloads of ${namespace} cannot reach ${t.host} over mTLS until it exists`
          : `cannot check Secret ${namespace}/${t.secretName} of target ${t.name}: ${reason(err)}`)
      }
    }
  }
}
