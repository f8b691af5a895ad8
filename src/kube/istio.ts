// The kinds egress-mtls provisions (Istio's networking.istio.io and security.istio.io; for a
// waypoint, rbac.authorization.k8s.io Roles and RoleBindings and the Gateway API's Gateway)
// through client-node's CustomObjectsApi: list what one instance owns,
// read one, server-side apply (field manager egress-mtls, force), replace a spec, delete what
// that instance owns.
// No request outlives `deadline` (Date.now() milliseconds).
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions, V1DeleteOptions, V1Preconditions } from '@kubernetes/client-node'

import { MANAGER } from '../core/base/names.ts'
import type { LiveObject } from '../core/istio/plan.ts'
import { instanceSelector, type IstioObject, type ObjectKind, ownedBy, type Resource, resourceOf, RESOURCES } from '../core/istio/render.ts'
import { deadlineOptions } from './retry.ts'

export type { LiveObject }

export function istioApi (kc: KubeConfig): CustomObjectsApi {
  return kc.makeApiClient(CustomObjectsApi)
}

/** The resource of `kind` (`apiVersion` tells the Gateways apart). */
export function resourceFor (apiVersion: string | undefined, kind: ObjectKind): Resource {
  const resource = resourceOf(apiVersion, kind)
  if (resource === undefined) throw new Error(`${apiVersion ?? ''} ${kind}: not a kind egress-mtls provisions`)
  return resource
}

const base = (r: Resource): { group: string, version: string, plural: string } => {
  const [group = '', version = ''] = r.apiVersion.split('/')
  return { group, version, plural: r.plural }
}

const withKind = (r: Resource, o: unknown): LiveObject => ({ ...(o as LiveObject), apiVersion: r.apiVersion, kind: r.kind })

/**
 * Every object of the provisioned kinds, in all namespaces, carrying the ownership labels of
 * `instance`. A cluster without the Gateway API (404 on its group) has none of its Gateways.
 */
export async function listOwned (api: CustomObjectsApi, instance: string, deadline: number): Promise<LiveObject[]> {
  const lists = await Promise.all(RESOURCES.map(async (r) => {
    const items: LiveObject[] = []
    let next: string | undefined
    do {
      let page: { items?: unknown[], metadata?: { continue?: string } }
      try {
        page = await api.listClusterCustomObject({
          ...base(r), labelSelector: instanceSelector(instance), limit: 500, ...(next === undefined ? {} : { _continue: next }),
        }, deadlineOptions(deadline)) as typeof page
      } catch (err) {
        if ((err as { code?: unknown }).code === 404 && r.apiVersion.startsWith('gateway.networking.k8s.io/')) return items
        throw err
      }
      items.push(...(page.items ?? []).map((o) => withKind(r, o)))
      next = page.metadata?.continue === '' ? undefined : page.metadata?.continue
    } while (next !== undefined)
    return items
  }))
  return lists.flat()
}

/** One object, or undefined when there is none. */
export async function getObject (
  api: CustomObjectsApi, r: Resource, namespace: string, name: string, deadline: number,
): Promise<LiveObject | undefined> {
  try {
    return withKind(r, await api.getNamespacedCustomObject({ ...base(r), namespace, name }, deadlineOptions(deadline)))
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
  const r = resourceFor(o.apiVersion, o.kind)
  return withKind(r, await api.patchNamespacedCustomObject({
    ...base(r), namespace: o.metadata.namespace, name: o.metadata.name, body, fieldManager: MANAGER, force: true,
  }, setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply, deadlineOptions(deadline))))
}

/**
 * Replaces the spec of `live` with the desired one, if `live` is still the version read.
 * Apply leaves alone fields that only another manager set (say, `insecureSkipVerify`
 * added with kubectl edit); this removes them.
 */
export async function replaceSpec (api: CustomObjectsApi, live: LiveObject, o: IstioObject, deadline: number): Promise<LiveObject> {
  const r = resourceFor(o.apiVersion, o.kind)
  const fields: [string, unknown][] = o.kind === 'Role'
    ? [['/rules', o.rules]]
    : o.kind === 'RoleBinding' ? [['/subjects', o.subjects], ['/roleRef', o.roleRef]] : [['/spec', o.spec]]
  return withKind(r, await api.patchNamespacedCustomObject({
    ...base(r),
    namespace: o.metadata.namespace,
    name: o.metadata.name,
    body: [
      { op: 'test', path: '/metadata/resourceVersion', value: live.metadata.resourceVersion },
      ...fields.map(([path, value]) => ({ op: 'replace', path, value })),
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
  r: Resource,
  namespace: string,
  name: string,
  instance: string,
  deadline: number,
): Promise<DeleteResult> {
  const live = await getObject(api, r, namespace, name, deadline)
  if (live === undefined) return 'gone'
  if (!ownedBy(live.metadata.labels, instance)) return 'not ours'
  const body = new V1DeleteOptions()
  body.preconditions = new V1Preconditions()
  if (live.metadata.uid !== undefined) body.preconditions.uid = live.metadata.uid
  if (live.metadata.resourceVersion !== undefined) body.preconditions.resourceVersion = live.metadata.resourceVersion
  try {
    await api.deleteNamespacedCustomObject({ ...base(r), namespace, name, body }, deadlineOptions(deadline))
    return 'deleted'
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) return 'gone'
    throw err
  }
}
