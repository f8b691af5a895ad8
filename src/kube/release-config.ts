// The configuration of an installed Helm release: the chart's ConfigMap (key config.yaml),
// found by the labels the chart puts on it, so that a Helm user needs no configuration file
// (`--release NAME`). Reads only (get/list ConfigMaps in the release's namespace).
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node'

import type { Config } from '../core/config/config.ts'
import { parseConfig } from '../core/config/parse.ts'
import { cliError, ConfigError } from '../errors.ts'
import { configOrError } from '../io/config-file.ts'
import { deadlineOptions, withRetry } from './retry.ts'

/** The labels of the chart's ConfigMap (templates/configmap.yaml, _helpers.tpl "egress-mtls.labels"). */
export const releaseConfigSelector = (release: string): string =>
  `app.kubernetes.io/instance=${release},app.kubernetes.io/component=config,app.kubernetes.io/part-of=egress-mtls`

export async function loadReleaseConfig (kc: KubeConfig, release: string, namespace: string, deadline: number): Promise<Config> {
  const core = kc.makeApiClient(CoreV1Api)
  const labelSelector = releaseConfigSelector(release)
  const list = await withRetry(() => core.listNamespacedConfigMap({ namespace, labelSelector }, deadlineOptions(deadline)), { deadline })
  const found = list.items
  if (found.length !== 1) {
    if (found.length === 0) throw cliError('EMTLS_CLI_RELEASE_NOT_FOUND', release, namespace, labelSelector)
    throw cliError('EMTLS_CLI_RELEASE_AMBIGUOUS', release, namespace, labelSelector, found.map((c) => c.metadata?.name ?? ''))
  }
  const cm = found[0]
  const source = `configmap ${namespace}/${cm?.metadata?.name ?? ''} (release ${release}) config.yaml`
  const text = cm?.data?.['config.yaml']
  if (text === undefined) throw new ConfigError(source, [{ path: '', message: 'is missing' }])
  return configOrError(parseConfig(text), source)
}
