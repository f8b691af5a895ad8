// What `inject` asks admit() of one document of a manifest: each Kubernetes object in it
// (each item of a List, of a List in a List too) asked as an AdmissionReview CREATE of it
// would ask, and the objects' patches made one JSON Patch of the whole document. Pure: the
// CLI (cli/inject.ts) reads the files, applies the patch to the document's text and says the
// warnings and denials.
import { isRecord } from '../base/json.ts'
import type { Config } from '../config/config.ts'
import { admit, type PatchOperation } from './admit.ts'
import type { Message } from './messages.ts'
import { isKubeObject, type KubeObject, removedApiVersion, syntheticRequest } from './workloads.ts'

/** What admit() says of one object of a document. */
export interface ObjectOutcome {
  /** `Kind/name`, `Kind/(no name)` when it has none. */
  readonly name: string
  /** What is said of an apiVersion Kubernetes removed, when the object is in one (removedApiVersion). */
  readonly removed?: string | undefined
  readonly warnings: readonly Message[]
  readonly denial?: Message | undefined
}

export interface DocumentOutcome {
  /** The document's objects in order, a List's items in place of the List. */
  readonly objects: readonly ObjectOutcome[]
  /** Every object's patch, each path prefixed with where the object stands in the document (`/items/2`). */
  readonly patch: readonly PatchOperation[]
}

/**
 * admit() on each Kubernetes object of a document's value. An object without its own
 * namespace is asked in `namespace` (inject's -n), else in `default`, as kubectl would create it.
 */
export function admitDocument (value: unknown, config: Config, namespace: string | undefined): DocumentOutcome {
  const objects: ObjectOutcome[] = []
  const patch: PatchOperation[] = []
  const visit = (object: unknown, prefix: string): void => {
    if (!isKubeObject(object)) return
    const items = object['items']
    if (object.kind.endsWith('List') && Array.isArray(items)) {
      items.forEach((item, i) => { visit(item, `${prefix}/items/${i}`) })
      return
    }
    const outcome = admitObject(object, config, namespace)
    objects.push({ name: outcome.name, removed: removedApiVersion(object), warnings: outcome.warnings, denial: outcome.denial })
    for (const op of outcome.patch) patch.push({ ...op, path: `${prefix}${op.path}` })
  }
  visit(value, '')
  return { objects, patch }
}

function admitObject (
  object: KubeObject, config: Config, namespace: string | undefined,
): ObjectOutcome & { readonly patch: readonly PatchOperation[] } {
  const metadata = isRecord(object.metadata) ? object.metadata : {}
  const objectNamespace = typeof metadata['namespace'] === 'string' && metadata['namespace'] !== '' ? metadata['namespace'] : undefined
  const request = syntheticRequest(object, 'egress-mtls-inject', 'CREATE', objectNamespace ?? namespace ?? 'default')
  const { patch, warnings, denial } = admit(request, config)
  const name = `${object.kind}/${request.name === '' ? '(no name)' : request.name}`
  return { name, patch, warnings, denial }
}
