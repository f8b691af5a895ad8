// The client material of `probe --cert F --key F --cacert F`, read from files.
import { readFile } from 'node:fs/promises'
import type { Material } from '../core/client-material.ts'
import { inputError } from '../errors.ts'

const WHY: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
}

async function read (path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    throw inputError(path, `cannot read: ${WHY[code] ?? (err as Error).message}`)
  }
}

export async function readMaterialFiles (files: { cert: string, key: string, cacert: string }): Promise<Material> {
  // One after the other, so that the error is always about the first unreadable file.
  return { cert: await read(files.cert), key: await read(files.key), cacert: await read(files.cacert) }
}
