// Files written the way kubelet writes a Secret or ConfigMap volume (its atomic writer), for
// the tests and the benchmark that watch the webhook reload them.
import { randomUUID } from 'node:crypto'
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import type { KeyPair } from './pki.ts'

export function tempDir (): string {
  return mkdtempSync(join(tmpdir(), 'egress-mtls-test-'))
}

/**
 * Writes `files` into `dir` as kubelet's atomic writer updates a Secret or ConfigMap volume:
 * a new timestamped directory, a `..data_tmp` symlink renamed onto `..data`, and the
 * user-visible names as symlinks through `..data`; the previous directory is removed.
 */
export function projectVolume (dir: string, files: Readonly<Record<string, string | Buffer>>): void {
  mkdirSync(dir, { recursive: true })
  const previous = readdirSync(dir).filter((n) => n.startsWith('..') && n !== '..data' && n !== '..data_tmp')
  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${randomUUID().slice(0, 8)}`
  mkdirSync(join(dir, stamp))
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, stamp, name), content, { mode: 0o600 })
  symlinkSync(stamp, join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  for (const name of Object.keys(files)) {
    try { lstatSync(join(dir, name)) } catch { symlinkSync(join('..data', name), join(dir, name)) }
  }
  for (const old of previous) rmSync(join(dir, old), { recursive: true, force: true })
}

/** Writes a serving pair as a kubernetes.io/tls Secret volume (with ca.crt); returns the file paths. */
export function writeServingSecret (dir: string, pair: KeyPair, ca: KeyPair): { cert: string, key: string } {
  projectVolume(dir, { 'tls.crt': pair.cert, 'tls.key': pair.key, 'ca.crt': ca.cert })
  return { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') }
}
