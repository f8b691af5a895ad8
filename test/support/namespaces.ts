// Namespaces of their own for the end-to-end tests on the shared control plane.
import { randomBytes } from 'node:crypto'

import { CoreV1Api, type KubeConfig, V1Namespace, V1ObjectMeta } from '@kubernetes/client-node'

import { loadKubeConfig } from './kube.ts'

export interface FreshNamespace {
  name: string
  /** Deletes the namespace (no waiting: with no controller-manager it stays Terminating). */
  cleanup: () => Promise<void>
}

/**
 * Creates a uniquely named namespace `<prefix>-<random>` (prefix trimmed to fit
 * DNS-1123) with optional labels. `kc` is a KubeConfig or a kubeconfig path.
 */
export async function freshNamespace (
  kc: KubeConfig | string, prefix: string, labels: Record<string, string> = {},
): Promise<FreshNamespace> {
  const config = typeof kc === 'string' ? loadKubeConfig(kc) : kc
  const api = config.makeApiClient(CoreV1Api)
  const clean = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'e2e'
  const name = `${clean}-${randomBytes(4).toString('hex')}`
  const body = new V1Namespace()
  body.metadata = new V1ObjectMeta()
  body.metadata.name = name
  body.metadata.labels = { 'egress-mtls.io/e2e': 'true', ...labels }
  await api.createNamespace({ body })
  return {
    name,
    cleanup: async () => {
      try {
        await api.deleteNamespace({ name })
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err
      }
    },
  }
}
