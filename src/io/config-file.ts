// Reads the configuration file named by --config or EGRESS_MTLS_CONFIG.
import { readFile } from 'node:fs/promises'
import { parseConfig, type Config } from '../core/config.ts'
import { ConfigError, usageError } from '../errors.ts'

export const CONFIG_ENV = 'EGRESS_MTLS_CONFIG'

export function configPath (flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const path = flag ?? env[CONFIG_ENV]
  if (path === undefined || path === '') throw usageError(`no configuration: pass --config FILE or set ${CONFIG_ENV}`)
  return path
}

export async function loadConfigFile (path: string): Promise<Config> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError(path, [{ path: '', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }])
  }
  return parseConfig(text, path)
}
