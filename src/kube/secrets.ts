// A target's Secret, read for `doctor` and `probe`: its data decoded to text. Reads only.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node'

import { deadlineOptions, withRetry } from './retry.ts'

/**
 * The Secret's data as text; undefined when there is no such Secret. Transient API errors
 * are retried until `deadline` (Date.now() milliseconds); any other error is thrown.
 */
export async function readSecretData (
  kc: KubeConfig, namespace: string, name: string, deadline: number,
): Promise<Record<string, string> | undefined> {
  const core = kc.makeApiClient(CoreV1Api)
  try {
    const secret = await withRetry(() => core.readNamespacedSecret({ name, namespace }, deadlineOptions(deadline)), { deadline })
    return decode(secret.data ?? {})
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) return undefined
    throw err
  }
}

function decode (data: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))
}
