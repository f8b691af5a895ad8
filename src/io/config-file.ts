// Reads the configuration file named by --config or EGRESS_MTLS_CONFIG.
import { open } from 'node:fs/promises'

import type { Config } from '../core/config/config.ts'
import { type ConfigResult, MAX_CONFIG_BYTES, parseConfig } from '../core/config/parse.ts'
import { cliError, ConfigError } from '../errors.ts'
import { describeFileError } from './file-errors.ts'

export const CONFIG_ENV = 'EGRESS_MTLS_CONFIG'

export function configPath (flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const path = flag ?? env[CONFIG_ENV]
  if (path === undefined || path === '') throw cliError('EMTLS_CLI_NO_CONFIG', CONFIG_ENV)
  return path
}

/**
 * Reads and validates a configuration file. A file larger than a configuration may be is
 * refused from its size, before anything is read into memory.
 */
export async function loadConfigFile (path: string): Promise<Config> {
  let text: string
  try {
    const file = await open(path, 'r')
    try {
      const { size } = await file.stat()
      if (size > MAX_CONFIG_BYTES) {
        throw new ConfigError(path, [{ path: '', message: `is ${size} bytes; a configuration is at most ${MAX_CONFIG_BYTES} bytes (1 MiB, what a ConfigMap holds)` }])
      }
      text = await file.readFile('utf8')
    } finally {
      await file.close()
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(path, [{ path: '', message: `cannot be read: ${describeFileError(err)}` }])
  }
  return configOrError(parseConfig(text), path)
}

/** The configuration, or the exit-2 ConfigError naming `source` (the file) and each issue. */
export function configOrError (result: ConfigResult, source: string): Config {
  if (!result.ok) throw new ConfigError(source, result.error)
  return result.value
}
