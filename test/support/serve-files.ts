// What `egress-mtls serve` reads in a pod, for a test of the whole command: a CA, a 30-day
// leaf it issued and the example configuration, as kubelet-projected volumes; the flags
// that name them.
import { join } from 'node:path'

import { projectVolume, tempDir } from './kubelet-volume.ts'
import { type KeyPair, loopbackServer, testAuthority } from './pki.ts'
import { fileArgs, type ServeFiles } from './serve.ts'
import { EXAMPLE_CONFIG } from './webhook.ts'

export interface PodFiles { readonly ca: KeyPair, readonly leaf: KeyPair, readonly files: ServeFiles, readonly args: string[] }

export async function serveFiles (): Promise<PodFiles> {
  const ca = await testAuthority()
  const leaf = await loopbackServer(ca, 30)
  const dir = tempDir()
  projectVolume(join(dir, 'tls'), { 'tls.crt': leaf.cert, 'tls.key': leaf.key })
  projectVolume(join(dir, 'config'), { 'config.yaml': EXAMPLE_CONFIG })
  const files = { cert: join(dir, 'tls', 'tls.crt'), key: join(dir, 'tls', 'tls.key'), config: join(dir, 'config', 'config.yaml') }
  return { ca, leaf, files, args: fileArgs(files) }
}
