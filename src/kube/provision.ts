// provision: make the cluster hold exactly the rendered Istio objects. Server-side apply of
// what differs, deletion of what we own and no longer want, then a second look to confirm.
import { CoreV1Api, type CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node'
import type { Config } from '../core/config.ts'
import { countActions, formatEntry, matches, plan, type Action, type PlanEntry } from '../core/plan.ts'
import { render, type IstioObject } from '../core/render.ts'
import { operationError } from '../errors.ts'
import { apply, deleteOwned, istioApi, listOwned, replaceSpec, type LiveObject } from './istio.ts'
import type { ApiFailure } from './client.ts'
import { apiFailure } from './client.ts'
import { deadlineOptions, withRetry, type RetryOptions } from './retry.ts'

export interface ProvisionOptions {
  /** Print the plan, change nothing. */
  readonly dryRun: boolean
  /** Delete what we own and no longer want. */
  readonly prune: boolean
  /** Date.now() milliseconds after which transient errors are no longer retried. */
  readonly deadline: number
  /** A line of the plan or of what was done. */
  readonly out: (line: string) => void
  /** A warning or a retry notice. */
  readonly warn: (line: string) => void
}

export interface ProvisionResult {
  /** What was planned (dry run) or done, by action. */
  readonly counts: Readonly<Record<Action, number>>
  /** One line per object that could not be brought in line, naming it and the API's reason. */
  readonly failures: readonly string[]
}

const where = (e: Pick<PlanEntry, 'kind' | 'namespace' | 'name'>): string => `${e.kind} ${e.namespace}/${e.name}`

/** `Invalid (422): ServiceEntry.networking.istio.io "x" is invalid: ...` */
function describe (f: ApiFailure): string {
  if (f.reason !== undefined) return `${f.reason} (${f.code ?? '?'}): ${f.message}`
  return f.code === undefined ? f.message : `HTTP ${f.code}: ${f.message}`
}
const reason = (err: unknown): string => describe(apiFailure(err))

/** Provisions `config`; with no configuration, deletes everything we own (uninstall). */
export async function provision (kc: KubeConfig, config: Config | undefined, options: ProvisionOptions): Promise<ProvisionResult> {
  const api = istioApi(kc)
  const retry = (what: string): RetryOptions => ({
    deadline: options.deadline,
    onRetry: (f, attempt, delay) => { options.warn(`${what}: ${describe(f)}; retry ${attempt} in ${delay} ms`) },
  })
  const desired = config === undefined ? [] : render(config)
  const prune = options.prune || config === undefined
  const list = async (): Promise<LiveObject[]> => {
    try {
      return await withRetry(() => listOwned(api, options.deadline), retry('list Istio objects'))
    } catch (err) {
      throw operationError(`cannot list the Istio objects egress-mtls owns: ${reason(err)}`, err)
    }
  }
  const entries = plan(desired, await list(), { prune })
  if (config !== undefined) await reportMissingSecrets(kc, config, options.deadline, retry, options.warn)

  if (options.dryRun) {
    for (const e of entries) options.out(formatEntry(e))
    return { counts: countActions(entries), failures: [] }
  }

  const failures: string[] = []
  const done: PlanEntry[] = []
  for (const e of entries) {
    try {
      if (e.action === 'delete') {
        const result = await withRetry(() => deleteOwned(api, e.kind, e.namespace, e.name, options.deadline), retry(`delete ${where(e)}`))
        if (result === 'not ours') options.warn(`${where(e)}: no longer carries our labels; left alone`)
      } else if (e.action !== 'unchanged' && e.desired !== undefined) {
        const d = e.desired
        await withRetry(() => applyExactly(api, d, options.deadline), retry(`apply ${where(e)}`))
      }
      done.push(e)
      options.out(formatEntry(e))
    } catch (err) {
      failures.push(`${where(e)}: ${e.action} failed: ${reason(err)}`)
    }
  }
  if (failures.length > 0) return { counts: countActions(done), failures }

  // A second look: exit 0 only when the cluster holds what was rendered.
  const left = plan(desired, await list(), { prune }).filter((e) => e.action !== 'unchanged')
  return { counts: countActions(done), failures: left.map((e) => `${where(e)}: still differs after provisioning (${e.action} needed); another writer may be changing it`) }
}

/**
 * Server-side apply; when the result still differs (a field only another manager set, which
 * apply does not remove), the spec is replaced on that exact version.
 */
async function applyExactly (api: CustomObjectsApi, o: IstioObject, deadline: number): Promise<LiveObject> {
  const applied = await apply(api, o, deadline)
  if (matches(o, applied)) return applied
  return await replaceSpec(api, applied, o, deadline)
}

/** Warns about each namespace where a target's Secret is missing (Secret `get` only). */
async function reportMissingSecrets (kc: KubeConfig, config: Config, deadline: number, retry: (what: string) => RetryOptions, warn: (line: string) => void): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api)
  for (const t of config.targets) {
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
