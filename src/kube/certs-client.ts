// The Kubernetes side of `egress-mtls certs`: exactly one Secret (get, create, update, delete) and
// one MutatingWebhookConfiguration (get, patch), by name. No list, no watch, so that RBAC can
// name both objects (resourceNames) — except `create`, which RBAC cannot restrict by name.
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  type KubeConfig,
  V1DeleteOptions,
  type V1MutatingWebhookConfiguration,
  V1ObjectMeta,
  V1Preconditions,
  V1Secret,
} from '@kubernetes/client-node'

import type { WebhookBundle } from '../core/tls/certs.ts'

export const TLS_SECRET_TYPE = 'kubernetes.io/tls'

export interface CertsTarget {
  readonly namespace: string
  readonly secret: string
  readonly webhook: string
}

export interface StoredSecret {
  /** The data as text (base64 decoded). */
  readonly data: Readonly<Record<string, string>>
  readonly type: string
  readonly resourceVersion: string
  readonly object: V1Secret
}

export interface StoredWebhooks {
  readonly resourceVersion: string
  /** In the configuration's order: the index is the JSON Patch path. */
  readonly webhooks: readonly WebhookBundle[]
}

export interface Stored {
  readonly secret: StoredSecret | undefined
  /** undefined when the MutatingWebhookConfiguration does not exist. */
  readonly webhooks: StoredWebhooks | undefined
}

const text = (b64: string | undefined): string => b64 === undefined ? '' : Buffer.from(b64, 'base64').toString('utf8')
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')

export const isNotFound = (err: unknown): boolean => err instanceof ApiException && err.code === 404
/** Someone else wrote in between (stale resourceVersion), or created the Secret first. */
export const isConflict = (err: unknown): boolean => err instanceof ApiException && err.code === 409

export interface CertsClient {
  read: () => Promise<Stored>
  /** Sets the caBundle of the named webhooks; fails with a 409 if the configuration changed since it was read. */
  setCaBundle: (stored: StoredWebhooks, names: readonly string[], bundle: string) => Promise<string>
  /** Creates the Secret, or updates the one read (409 if it changed since). Keys not given are kept. */
  writeSecret: (stored: StoredSecret | undefined, data: Readonly<Record<string, string>>) => Promise<string>
  /** Deletes the Secret read, if it is still that version (409 if it changed since; gone is fine). */
  deleteSecret: (stored: StoredSecret) => Promise<void>
}

export function certsClient (kc: KubeConfig, target: CertsTarget): CertsClient {
  const core = kc.makeApiClient(CoreV1Api)
  const admission = kc.makeApiClient(AdmissionregistrationV1Api)
  const { namespace, secret: name, webhook } = target

  async function readSecret (): Promise<StoredSecret | undefined> {
    let object: V1Secret
    try {
      object = await core.readNamespacedSecret({ name, namespace })
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
    const data = Object.fromEntries(Object.entries(object.data ?? {}).map(([k, v]) => [k, text(v)]))
    return { data, type: object.type ?? 'Opaque', resourceVersion: object.metadata?.resourceVersion ?? '', object }
  }

  async function readWebhooks (): Promise<StoredWebhooks | undefined> {
    let object: V1MutatingWebhookConfiguration
    try {
      object = await admission.readMutatingWebhookConfiguration({ name: webhook })
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
    return {
      resourceVersion: object.metadata?.resourceVersion ?? '',
      webhooks: (object.webhooks ?? []).map((w) => ({ name: w.name, caBundle: text(w.clientConfig.caBundle) })),
    }
  }

  return {
    async read () {
      const [secret, webhooks] = await Promise.all([readSecret(), readWebhooks()])
      return { secret, webhooks }
    },

    async setCaBundle (stored, names, bundle) {
      // A resourceVersion in a patch is a precondition: the API server answers 409 Conflict
      // if the object changed since it was read, so the indexes below are still right and a
      // concurrent run's bundle is never overwritten unseen.
      const body = [
        { op: 'replace', path: '/metadata/resourceVersion', value: stored.resourceVersion },
        ...stored.webhooks.flatMap((w, i) => names.includes(w.name)
          ? [{ op: 'add', path: `/webhooks/${String(i)}/clientConfig/caBundle`, value: b64(bundle) }]
          : []),
      ]
      const patched = await admission.patchMutatingWebhookConfiguration({ name: webhook, body, fieldManager: 'egress-mtls' })
      return patched.metadata?.resourceVersion ?? ''
    },

    async writeSecret (stored, data) {
      const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)]))
      if (stored === undefined) {
        const body = new V1Secret()
        body.metadata = new V1ObjectMeta()
        body.metadata.name = name
        body.metadata.namespace = namespace
        body.type = TLS_SECRET_TYPE
        body.data = encoded
        const created = await core.createNamespacedSecret({ namespace, body, fieldManager: 'egress-mtls' })
        return created.metadata?.resourceVersion ?? ''
      }
      // The object as read, resourceVersion included: update fails with 409 if it changed.
      const body = stored.object
      body.data = { ...body.data, ...encoded }
      const updated = await core.replaceNamespacedSecret({ name, namespace, body, fieldManager: 'egress-mtls' })
      return updated.metadata?.resourceVersion ?? ''
    },

    async deleteSecret (stored) {
      const body = new V1DeleteOptions()
      body.preconditions = new V1Preconditions()
      body.preconditions.resourceVersion = stored.resourceVersion
      if (stored.object.metadata?.uid !== undefined) body.preconditions.uid = stored.object.metadata.uid
      try {
        await core.deleteNamespacedSecret({ name, namespace, body })
      } catch (err) {
        if (!isNotFound(err)) throw err
      }
    },
  }
}
