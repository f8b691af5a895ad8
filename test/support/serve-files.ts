// What `egress-mtls serve` reads in a pod, for a test of the whole command: a CA, a 30-day
// leaf it issued and the example configuration, as kubelet-projected volumes; the flags
// that name them.
import { join } from 'node:path'

import { EXAMPLE_CONFIG, type KeyPair, makeCa, makeLeaf, projectVolume, tempDir } from '../integration/helpers.ts'

export interface ServeFiles { readonly ca: KeyPair, readonly leaf: KeyPair, readonly args: string[] }

export async function serveFiles (): Promise<ServeFiles> {
  const ca = await makeCa()
  const leaf = await makeLeaf(ca, 30)
  const dir = tempDir()
  projectVolume(join(dir, 'tls'), { 'tls.crt': leaf.cert, 'tls.key': leaf.key })
  projectVolume(join(dir, 'config'), { 'config.yaml': EXAMPLE_CONFIG })
  return { ca, leaf, args: ['--tls-cert', join(dir, 'tls', 'tls.crt'), '--tls-key', join(dir, 'tls', 'tls.key'), '--config', join(dir, 'config', 'config.yaml')] }
}
