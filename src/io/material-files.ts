// The client material of `probe --cert F --key F --cacert F`, read from files.
import { readFile } from 'node:fs/promises'

import type { Material } from '../core/tls/client-material.ts'
import { cliError } from '../errors.ts'
import { describeFileError } from './file-errors.ts'

async function read (path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw cliError('EMTLS_CLI_MATERIAL_UNREADABLE', path, describeFileError(err))
  }
}

export async function readMaterialFiles (files: { cert: string, key: string, cacert: string }): Promise<Material> {
  // One after the other, so that the error is always about the first unreadable file.
  return { cert: await read(files.cert), key: await read(files.key), cacert: await read(files.cacert) }
}
