// The Istio kinds egress-mtls provisions (networking.istio.io and security.istio.io) through
// client-node's CustomObjectsApi: list what one instance owns, read one, server-side apply
// (field manager egress-mtls, force), replace a spec, delete what that instance owns.
// No request outlives `deadline` (Date.now() milliseconds).
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions, V1DeleteOptions, V1Preconditions } from '@kubernetes/client-node'

import { MANAGER } from '../core/base/names.ts'
import type { LiveObject } from '../core/istio/plan.ts'
import { instanceSelector, ISTIO_GROUPS, ISTIO_KINDS, ISTIO_PLURALS, ISTIO_VERSION, type IstioKind, type IstioObject, ownedBy } from '../core/istio/render.ts'
import { deadlineOptions } from './retry.ts'

export type { LiveObject }

export function istioApi (kc: KubeConfig): CustomObjectsApi {
  return kc.makeApiClient(CustomObjectsApi)
}

const base = (kind: IstioKind): { group: string, version: string, plural: string } =>
  ({ group: ISTIO_GROUPS[kind], version: ISTIO_VERSION, plural: ISTIO_PLURALS[kind] })

const withKind = (kind: IstioKind, o: unknown): LiveObject => ({ ...(o as LiveObject), kind })

/** Every object of the provisioned kinds, in all namespaces, carrying the ownership labels of `instance`. */
export async function listOwned (api: CustomObjectsApi, instance: string, deadline: number): Promise<LiveObject[]> {
  const lists = await Promise.all(ISTIO_KINDS.map(async (kind) => {
    const items: LiveObject[] = []
    let next: string | undefined
    do {
      const page = await api.listClusterCustomObject({
        ...base(kind), labelSelector: instanceSelector(instance), limit: 500, ...(next === undefined ? {} : { _continue: next }),
      }, deadlineOptions(deadline)) as { items?: unknown[], metadata?: { continue?: string } }
      items.push(...(page.items ?? []).map((o) => withKind(kind, o)))
      next = page.metadata?.continue === '' ? undefined : page.metadata?.continue
    } while (next !== undefined)
    return items
  }))
  return lists.flat()
}

/** One object, or undefined when there is none. */
export async function getObject (
  api: CustomObjectsApi, kind: IstioKind, namespace: string, name: string, deadline: number,
): Promise<LiveObject | undefined> {
  try {
    return withKind(kind, await api.getNamespacedCustomObject({ ...base(kind), namespace, name }, deadlineOptions(deadline)))
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) return undefined
    throw err
  }
}

/**
 * Server-side apply of the whole object, taking over fields other managers set (force).
 * With `resourceVersion`, only if the object is still that version (409 Conflict otherwise).
 */
export async function apply (api: CustomObjectsApi, o: IstioObject, deadline: number, resourceVersion?: string): Promise<LiveObject> {
  const body = resourceVersion === undefined ? o : { ...o, metadata: { ...o.metadata, resourceVersion } }
  return withKind(o.kind, await api.patchNamespacedCustomObject({
    ...base(o.kind), namespace: o.metadata.namespace, name: o.metadata.name, body, fieldManager: MANAGER, force: true,
  }, setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply, deadlineOptions(deadline))))
}

/**
 * Replaces the spec of `live` with the desired one, if `live` is still the version read.
 * Apply leaves alone fields that only another manager set (say, `insecureSkipVerify`
 * added with kubectl edit); this removes them.
 */
export async function replaceSpec (api: CustomObjectsApi, live: LiveObject, o: IstioObject, deadline: number): Promise<LiveObject> {
  return withKind(o.kind, await api.patchNamespacedCustomObject({
    ...base(o.kind),
    namespace: o.metadata.namespace,
    name: o.metadata.name,
    body: [
      { op: 'test', path: '/metadata/resourceVersion', value: live.metadata.resourceVersion },
      { op: 'replace', path: '/spec', value: o.spec },
    ],
    fieldManager: MANAGER,
  }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch, deadlineOptions(deadline))))
}

export type DeleteResult = 'deleted' | 'gone' | 'not ours'

/**
 * Deletes an object `instance` owns. It is read again first, and deleted only if it still
 * carries that instance's labels, with that version as precondition: a 409 means it changed
 * meanwhile (retry).
 */
export async function deleteOwned (
  api: CustomObjectsApi,
  kind: IstioKind,
  namespace: string,
  name: string,
  instance: string,
  deadline: number,
): Promise<DeleteResult> {
  const live = await getObject(api, kind, namespace, name, deadline)
  if (live === undefined) return 'gone'
  if (!ownedBy(live.metadata.labels, instance)) return 'not ours'
  const body = new V1DeleteOptions()
  body.preconditions = new V1Preconditions()
  if (live.metadata.uid !== undefined) body.preconditions.uid = live.metadata.uid
  if (live.metadata.resourceVersion !== undefined) body.preconditions.resourceVersion = live.metadata.resourceVersion
  try {
    await api.deleteNamespacedCustomObject({ ...base(kind), namespace, name, body }, deadlineOptions(deadline))
    return 'deleted'
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) return 'gone'
    throw err
  }
}
