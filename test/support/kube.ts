// Requests to the test control plane's API server: its kubeconfig, raw and JSON requests with
// the admin's client certificate, and a ServiceAccount's kubeconfig.
import { writeFile } from 'node:fs/promises'
import { request as httpsRequest, type RequestOptions } from 'node:https'
import { join } from 'node:path'

import { KubeConfig } from '@kubernetes/client-node'

/** Environment variable holding the kubeconfig path of the run's control plane. */
export const KUBECONFIG_ENV = 'EGRESS_MTLS_E2E_KUBECONFIG'

export interface HttpResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

export interface KubeRequest {
  method?: string
  /** Path with query, e.g. '/apis/apps/v1/namespaces/x/deployments?dryRun=All'. */
  path: string
  /** Object (sent as JSON) or string. */
  body?: unknown
  /** Default application/json; use 'application/apply-patch+yaml' for server-side apply. */
  contentType?: string
  headers?: Record<string, string>
  timeoutMs?: number
}

/**
 * A raw request to the API server of `kc` (client certificate auth), returning
 * status, headers (e.g. `warning`) and body without throwing on HTTP errors.
 */
export async function kubeRequest (kc: KubeConfig, req: KubeRequest): Promise<HttpResult> {
  const cluster = kc.getCurrentCluster()
  if (cluster === null) throw new Error('kubeconfig has no current cluster')
  const url = new URL(req.path, cluster.server)
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers }
  let payload: string | undefined
  if (req.body !== undefined) {
    payload = typeof req.body === 'string' ? req.body : JSON.stringify(req.body)
    headers['content-type'] = req.contentType ?? 'application/json'
  }
  const opts: RequestOptions = {
    method: req.method ?? 'GET',
    hostname: url.hostname,
    port: url.port,
    path: url.pathname + url.search,
    headers,
    timeout: req.timeoutMs ?? 30_000,
  }
  await kc.applyToHTTPSOptions(opts)
  return await new Promise<HttpResult>((res, rej) => {
    const r = httpsRequest(opts, (resp) => {
      let body = ''
      resp.setEncoding('utf8')
      resp.on('data', (c: string) => { body += c })
      resp.on('end', () => { res({ status: resp.statusCode ?? 0, headers: resp.headers, body }) })
      resp.on('error', rej)
    })
    r.on('timeout', () => { r.destroy(new Error(`${opts.method ?? 'GET'} ${req.path}: timeout`)) })
    r.on('error', rej)
    r.end(payload)
  })
}

/**
 * A kubeconfig file (in `dir`) that authenticates as ServiceAccount `sa` of `namespace` with a
 * token from the TokenRequest API: the API server judges its requests as the pod's would be.
 */
export async function serviceAccountKubeconfig (
  kc: KubeConfig, namespace: string, sa: string, dir: string, expirationSeconds = 900,
): Promise<string> {
  const cluster = kc.getCurrentCluster()
  if (cluster === null) throw new Error('kubeconfig has no current cluster')
  const tr = (await kubeJson(kc, {
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds } },
  })) as { status: { token: string } }
  const file = join(dir, `${sa}.kubeconfig`)
  await writeFile(file, JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
    users: [{ name: sa, user: { token: tr.status.token } }],
    contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: sa, namespace } }],
    'current-context': 'e2e',
  }), { mode: 0o600 })
  return file
}

/** kubeRequest that throws unless the status is 2xx, returning the parsed JSON body. */
export async function kubeJson (kc: KubeConfig, req: KubeRequest): Promise<unknown> {
  const r = await kubeRequest(kc, req)
  if (r.status < 200 || r.status > 299) {
    throw new Error(`${req.method ?? 'GET'} ${req.path}: HTTP ${r.status}: ${r.body}`)
  }
  return r.body === '' ? undefined : JSON.parse(r.body)
}

/** Loads a kubeconfig: `path`, else $EGRESS_MTLS_E2E_KUBECONFIG (set by global-setup.ts). */
export function loadKubeConfig (path?: string): KubeConfig {
  const file = path ?? process.env[KUBECONFIG_ENV]
  if (file === undefined || file === '') {
    throw new Error(
      `${KUBECONFIG_ENV} is not set: run e2e tests with ` +
        '`node --test --test-global-setup=test/e2e/global-setup.ts ...` (npm test does), ' +
        'or start a control plane with `npx node test/e2e/harness.ts` and export the variable it prints',
    )
  }
  const kc = new KubeConfig()
  kc.loadFromFile(file)
  return kc
}

/** The REST resources of what the end-to-end tests apply from the chart by path: its RBAC and admission policies. */
export const ACCESS_PLURALS: Readonly<Record<string, string>> = {
  ServiceAccount: 'serviceaccounts',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  ValidatingAdmissionPolicy: 'validatingadmissionpolicies',
  ValidatingAdmissionPolicyBinding: 'validatingadmissionpolicybindings',
}

/** What names an object's REST path. */
interface Addressed { apiVersion: string, kind: string, metadata: { name: string, namespace?: string } }

/** The REST path of an object (namespaced when it names a namespace), its resource taken from `plurals`. */
export function restPath (o: Addressed, plurals: Readonly<Record<string, string>>): string {
  const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`
  const ns = o.metadata.namespace === undefined ? '' : `/namespaces/${o.metadata.namespace}`
  return `${base}${ns}/${plurals[o.kind] ?? '?'}/${o.metadata.name}`
}
