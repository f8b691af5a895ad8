// Every name a user sees (docs/design.md "Names users see"), in one place.
// The webhook's mount paths and the DestinationRule's file paths both come from here,
// so the two can never disagree.

export const PREFIX = 'egress-mtls.io'

/** Workload label: "true" opts in (label mode), "false" opts out (namespace, cluster modes). */
export const INJECT_LABEL = `${PREFIX}/inject`
/** Namespace label that opts a namespace in (namespace mode). */
export const NAMESPACE_LABEL = `${PREFIX}/injection`
/** Workload annotation narrowing the targets injected: "bank-api,tax-gw". */
export const TARGETS_ANNOTATION = `${PREFIX}/targets`
/** Pod-template annotation written by the webhook: what was injected. */
export const INJECTED_ANNOTATION = `${PREFIX}/injected`
/** Label on provisioned Istio resources naming their target. */
export const TARGET_LABEL = `${PREFIX}/target`
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by'
export const MANAGER = 'egress-mtls'
/** Label on provisioned Istio resources naming the installation that owns them (`--instance`). */
export const INSTANCE_LABEL = `${PREFIX}/instance`
/** The instance of `provision --instance` when none is given; the chart passes its release name. */
export const DEFAULT_INSTANCE = 'egress-mtls'

export const USER_VOLUME = 'sidecar.istio.io/userVolume'
export const USER_VOLUME_MOUNT = 'sidecar.istio.io/userVolumeMount'
/** Istio's per-pod ProxyConfig; egress-mtls writes its proxyStatsMatcher when `tlsStats` is on. */
export const PROXY_CONFIG = 'proxy.istio.io/config'

/** Names under egress-mtls.io/ that egress-mtls uses itself: a target may not be called so. */
export const RESERVED_TARGET_NAMES: readonly string[] = ['inject', 'injection', 'injected', 'targets', 'target']

/** Pod-template label set per injected target; DestinationRule workloadSelector matches it. */
export function targetPodLabel (target: string): string {
  return `${PREFIX}/${target}`
}

/** Name of the sidecar volume, and of every provisioned Istio resource, of a target. */
export function resourceName (target: string): string {
  return `egress-mtls-${target}`
}

/**
 * Name of the ServiceEntry (and VirtualService) that targets sharing a host in one namespace
 * share: `egress-mtls.<host>`. It has a dot, which a target's name (a DNS label) never has,
 * so it cannot be any target's resourceName.
 */
export function hostResourceName (host: string): string {
  return `egress-mtls.${host}`
}

/** The longest host that targets may share: its hostResourceName is at most 253 characters. */
export const MAX_SHARED_HOST_LENGTH = 253 - hostResourceName('').length

export interface CertFiles {
  readonly cert: string
  readonly key: string
  readonly cacert: string
}

/** The file names inside the mount, fixed whatever the Secret's keys are. */
export const CERT_FILE_NAMES: CertFiles = { cert: 'cert', key: 'key', cacert: 'cacert' }

export function mountPath (mountRoot: string, target: string): string {
  return `${mountRoot.replace(/\/+$/, '')}/${target}`
}

/** Where istio-proxy finds a target's client certificate, key and CA. */
export function certFiles (mountRoot: string, target: string): CertFiles {
  const dir = mountPath(mountRoot, target)
  return { cert: `${dir}/cert`, key: `${dir}/key`, cacert: `${dir}/cacert` }
}
