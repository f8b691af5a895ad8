// The Kubernetes API shell: one place that loads a kubeconfig and explains API errors.
import { ApiException, KubeConfig, VersionApi } from '@kubernetes/client-node'

import { cliError } from '../errors.ts'
import { describeFileError } from '../io/file-errors.ts'
import { apiFailure } from './api-failure.ts'
import { deadlineOptions } from './retry.ts'

/**
 * --kubeconfig, else $KUBECONFIG, in-cluster, ~/.kube/config (client-node's default order);
 * `context` (--context) instead of the current context. A file that cannot be read or is no
 * kubeconfig, no kubeconfig at all, or an unknown context is bad usage (exit 2), said in
 * one line naming the file or context.
 */
export function loadKubeConfig (path?: string, context?: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig()
  const source = path ?? (env['KUBECONFIG'] !== undefined && env['KUBECONFIG'] !== '' ? `$KUBECONFIG (${env['KUBECONFIG']})` : 'the kubeconfig')
  try {
    if (path === undefined) kc.loadFromDefault()
    else kc.loadFromFile(path)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (typeof e.code === 'string' && typeof e.syscall === 'string') throw cliError('EMTLS_CLI_KUBECONFIG_UNREADABLE', source, describeFileError(err))
    throw cliError('EMTLS_CLI_KUBECONFIG_INVALID', source, (e.message || String(err)).split('\n')[0] ?? '')
  }
  const found = kc.getContexts()
  if (path === undefined && kc.getCurrentContext() === 'loaded-context' && kc.getCurrentCluster()?.server === 'http://localhost:8080') {
    throw cliError('EMTLS_CLI_NO_KUBECONFIG')
  }
  if (context !== undefined) {
    if (kc.getContextObject(context) === null) throw cliError('EMTLS_CLI_CONTEXT_UNKNOWN', source, context, found.map((c) => c.name))
    kc.setCurrentContext(context)
  }
  const current = kc.getCurrentContext()
  if (current === '' || kc.getContextObject(current) === null) throw cliError('EMTLS_CLI_NO_CURRENT_CONTEXT', source, found.map((c) => c.name))
  const cluster = kc.getCurrentCluster()
  if (cluster === null || cluster.server === '') throw cliError('EMTLS_CLI_CONTEXT_NO_SERVER', source, current)
  return kc
}

/** The namespace of the current context, when it names one (kubectl's default for -n). */
export function contextNamespace (kc: KubeConfig): string | undefined {
  const ns = kc.getContextObject(kc.getCurrentContext())?.namespace
  return ns === undefined || ns === '' ? undefined : ns
}

/** "https://host:6443 (context kind-dev)": which API server a message is about. */
export function serverName (kc: KubeConfig): string {
  return `${kc.getCurrentCluster()?.server ?? '(no server)'} (context ${kc.getCurrentContext()})`
}

/**
 * Fails fast, naming the server, when the API server cannot be reached before `deadline`
 * (refused, unknown host, TLS failure, no answer): bad usage (exit 2), most often a wrong
 * kubeconfig or context. Any HTTP answer, even 401 or 403, means it is reachable.
 */
export async function checkReachable (kc: KubeConfig, deadline: number): Promise<void> {
  try {
    await kc.makeApiClient(VersionApi).getCode({}, deadlineOptions(deadline))
  } catch (err) {
    if (err instanceof ApiException) return
    throw cliError('EMTLS_CLI_API_UNREACHABLE', serverName(kc), apiFailure(err).message)
  }
}
