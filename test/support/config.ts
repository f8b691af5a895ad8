// Configurations for tests: core's parseConfig/resolveConfig (a Result) through the shell's
// configOrError, so that a bad test configuration fails as the CLI would (a ConfigError).
import type { Config } from '../../src/core/config/config.ts'
import { parseConfig, resolveConfig } from '../../src/core/config/parse.ts'
import { configOrError } from '../../src/io/config-file.ts'

/** The configuration of a YAML or JSON text; throws the ConfigError naming `source`. */
export const parsedConfig = (text: string, source = 'config'): Config => configOrError(parseConfig(text), source)

/** The configuration of a parsed object, defaults applied; throws the ConfigError naming `source`. */
export const resolvedConfig = (raw: unknown, source = 'config'): Config => configOrError(resolveConfig(raw), source)

/**
 * Two targets: bank-api in one namespace, tax-gw mesh-wide with its own Secret and keys (the
 * configuration the inject CLI and Istio injection tests share; a leading newline, as written).
 */
export const TWO_TARGETS_CONFIG = `
targets:
  - name: bank-api
    host: api.bank.example.com
    namespaces: [payments]
  - name: tax-gw
    host: gw.tax.example.org
    secretName: tax-gw-client
    secretKeys: { cert: tls.crt, key: tls.key, cacert: ca.crt }
    namespaces: ["*"]
`
