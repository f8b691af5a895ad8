// Where a command's configuration comes from: --config FILE (or $EGRESS_MTLS_CONFIG), or
// --release NAME: the installed release's ConfigMap in --release-namespace (default: the
// kubeconfig context's namespace, as helm's -n).
import type { Config } from '../core/config/config.ts'
import { cliError } from '../errors.ts'
import { configPath, loadConfigFile } from '../io/config-file.ts'
import type { GlobalOptions, Io } from './options.ts'

/** How long reading the release's ConfigMap may take, unless the command's --timeout says. */
const RELEASE_TIMEOUT_SECONDS = 30

export async function loadConfiguration (options: GlobalOptions & { readonly timeout?: number }, io: Io): Promise<Config> {
  if (options.release === undefined) {
    if (options.releaseNamespace !== undefined) throw cliError('EMTLS_CLI_RELEASE_NAMESPACE_ALONE')
    return loadConfigFile(configPath(options.config, io.env))
  }
  if (options.config !== undefined) throw cliError('EMTLS_CLI_CONFIG_RELEASE_EXCLUSIVE')
  const [{ checkReachable, contextNamespace, loadKubeConfig }, { loadReleaseConfig }] = await Promise.all([import('../kube/client.ts'), import('../kube/release-config.ts')])
  const kc = loadKubeConfig(options.kubeconfig, options.context)
  const deadline = Date.now() + (options.timeout ?? RELEASE_TIMEOUT_SECONDS) * 1000
  await checkReachable(kc, deadline)
  return loadReleaseConfig(kc, options.release, options.releaseNamespace ?? contextNamespace(kc) ?? 'default', deadline)
}

/** provision's and doctor's --instance: as given, else the release's name (the chart passes it), else egress-mtls. */
export const instanceOf = (options: GlobalOptions & { readonly instance?: string }): string =>
  options.instance ?? options.release ?? 'egress-mtls'
