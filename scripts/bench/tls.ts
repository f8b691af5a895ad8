// Test TLS material for the benchmark and the integration tests: an EC P-256 CA and
// serving certificates it signs (SHA-256, SAN 127.0.0.1 and localhost), written the way
// kubelet projects a Secret volume: a timestamped directory, a `..data` symlink swapped
// atomically, and top-level links `tls.crt -> ..data/tls.crt`.
import { X509Certificate } from 'node:crypto'
import { mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

import { generate } from 'selfsigned'

export interface Pem {
  readonly cert: string
  readonly key: string
}

const day = 24 * 3600 * 1000

export async function makeCa (): Promise<Pem> {
  const now = new Date()
  const pems = await generate([{ name: 'commonName', value: 'egress-mtls bench CA' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 30 * day),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  })
  return { cert: pems.cert, key: pems.private }
}

/** A serving certificate for 127.0.0.1 and localhost, signed by `ca`. */
export async function makeServing (ca: Pem): Promise<Pem> {
  const now = new Date()
  const pems = await generate([{ name: 'commonName', value: 'egress-mtls-webhook' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 7 * day),
    ca,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  })
  return { cert: pems.cert, key: pems.private }
}

/** SHA-256 fingerprint of a PEM certificate, as `X509Certificate.fingerprint256` prints it. */
export function fingerprint (certPem: string): string {
  return new X509Certificate(certPem).fingerprint256
}

let generation = 0

/**
 * Writes `files` into `dir` as kubelet updates a projected volume: a new `..<timestamp>`
 * directory, a `..data_tmp` symlink to it renamed over `..data` (atomic), top-level links
 * to `..data/<file>`, then the previous directory removed.
 */
export async function writeProjected (dir: string, files: Readonly<Record<string, string>>): Promise<void> {
  await mkdir(dir, { recursive: true })
  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${process.pid}.${++generation}`
  const target = join(dir, stamp)
  await mkdir(target)
  for (const [name, text] of Object.entries(files)) await writeFile(join(target, name), text, { mode: 0o600 })
  const previous = await readlink(join(dir, '..data')).catch(() => undefined)
  await symlink(stamp, join(dir, '..data_tmp'))
  await rename(join(dir, '..data_tmp'), join(dir, '..data'))
  for (const name of Object.keys(files)) {
    await symlink(join('..data', name), join(dir, name)).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    })
  }
  if (previous !== undefined && previous !== stamp) await rm(join(dir, previous), { recursive: true, force: true })
}

/** Writes a serving pair as a kubernetes.io/tls Secret volume; returns the file paths. */
export async function writeServingSecret (dir: string, pair: Pem, ca: Pem): Promise<{ cert: string, key: string }> {
  await writeProjected(dir, { 'tls.crt': pair.cert, 'tls.key': pair.key, 'ca.crt': ca.cert })
  return { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') }
}
