// The one catalogue of the program's errors (exit 1 or 2, one line on stderr after
// `egress-mtls: `): each has a stable code, the process exit code it maps to (docs/design.md:
// 0 success, 1 a problem found or a failed operation, 2 bad usage or configuration) and its
// one text. README.md "Errors" lists every code; the admission's warnings and denials are
// the other catalogue (core/admission/messages.ts), under the same EMTLS_ prefix.

export type ExitCode = 1 | 2

export class EgressMtlsError extends Error {
  readonly code: string
  readonly exitCode: ExitCode
  constructor (code: string, exitCode: ExitCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'EgressMtlsError'
    this.code = code
    this.exitCode = exitCode
  }
}

/** One problem in a configuration, located as precisely as the input allows. */
export interface ConfigIssue {
  /** `targets[1].host` */
  readonly path: string
  readonly message: string
  /** 1-based line in the source file, when known. */
  readonly line?: number
}

export class ConfigError extends EgressMtlsError {
  readonly issues: readonly ConfigIssue[]
  readonly source: string
  constructor (source: string, issues: readonly ConfigIssue[]) {
    super('EMTLS_CLI_CONFIG_INVALID', ERRORS.EMTLS_CLI_CONFIG_INVALID.exit, ERRORS.EMTLS_CLI_CONFIG_INVALID.text(source, issues))
    this.name = 'ConfigError'
    this.source = source
    this.issues = issues
  }
}

function formatIssues (source: string, issues: readonly ConfigIssue[]): string {
  const lines = issues.map((i) => {
    const where = i.line === undefined ? source : `${source}:${i.line}`
    return i.path === '' ? `${where}: ${i.message}` : `${where}: ${i.path}: ${i.message}`
  })
  // One problem is one line; several are listed under a heading.
  return lines.length === 1 ? `invalid configuration: ${lines[0] ?? ''}` : `invalid configuration\n  ${lines.join('\n  ')}`
}

/** An input's place: `file`, or `file:line` when the line is known. */
const at = (source: string, line: number | undefined): string => line === undefined ? source : `${source}:${line}`
const names = (list: readonly string[]): string => list.join(', ') || 'none'

/** The catalogue: each code, its exit code and its text. */
export const ERRORS = Object.freeze({
  // ---- usage: flags, arguments, the environment (exit 2) ----
  EMTLS_CLI_NO_CONFIG: { exit: 2, text: (env: string) => `no configuration: pass --config FILE or set ${env}` },
  EMTLS_CLI_RELEASE_NAMESPACE_ALONE: { exit: 2, text: () => '--release-namespace needs --release NAME' },
  EMTLS_CLI_CONFIG_RELEASE_EXCLUSIVE: { exit: 2, text: () => '--config and --release exclude each other: the configuration is a file or the release\'s' },
  EMTLS_CLI_RELEASE_NOT_FOUND: {
    exit: 2,
    text: (release: string, namespace: string, selector: string) =>
      `no egress-mtls release "${release}" in namespace ${namespace}: no ConfigMap labelled ${selector} (helm list -n ${namespace}; --release-namespace NS names the release's namespace)`,
  },
  EMTLS_CLI_RELEASE_AMBIGUOUS: {
    exit: 2,
    text: (release: string, namespace: string, selector: string, configMaps: readonly string[]) =>
      `release "${release}" in namespace ${namespace}: ${configMaps.length} ConfigMaps labelled ${selector} (${configMaps.join(', ')}); pass --config FILE instead`,
  },
  EMTLS_CLI_LISTEN_ADDRESS: {
    exit: 2,
    text: (flag: string, value: string) => `${flag} ${JSON.stringify(value)}: must be [HOST]:PORT, e.g. :8443, 127.0.0.1:8443 or [::1]:8443 (port 0 picks a free port)`,
  },
  EMTLS_CLI_SELF_SIGNED_EXCLUSIVE: { exit: 2, text: () => 'serve: --self-signed and --tls-cert/--tls-key exclude each other' },
  EMTLS_CLI_SERVING_CERT_MISSING: { exit: 2, text: () => 'serve: pass --tls-cert FILE and --tls-key FILE, or --self-signed for local use' },
  EMTLS_CLI_SERVE_RELEASE: { exit: 2, text: () => 'serve: --release: serve watches a file, pass --config FILE (the chart mounts its ConfigMap)' },
  EMTLS_CLI_NO_MANIFESTS: {
    exit: 2,
    text: () => 'inject: no manifests given: pass -f FILE, -f DIRECTORY or -f - (stdin), e.g. egress-mtls inject -f deployment.yaml',
  },
  EMTLS_CLI_STDIN_TWICE: { exit: 2, text: () => '-f - (stdin) can be given only once' },
  EMTLS_CLI_PRUNE_CONTRADICTION: { exit: 2, text: (flag: string) => `--prune-all and ${flag} contradict each other` },
  EMTLS_CLI_OUTPUT_NEEDS_DRY_RUN: { exit: 2, text: (format: string) => `-o ${format} prints the plan: it needs --dry-run` },
  EMTLS_CLI_INSTANCE_INVALID: {
    exit: 2,
    text: (instance: string) =>
      `--instance ${JSON.stringify(instance)}: must be a label value (at most 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit)`,
  },
  EMTLS_CLI_CERTS_NAME_INVALID: { exit: 2, text: (flag: string, value: string, kind: 'label' | 'subdomain') => `certs: ${flag} ${value}: not a DNS-1123 ${kind}` },
  EMTLS_CLI_CERTS_VALIDITY: {
    exit: 2,
    text: (ca: number, leaf: number) =>
      `certs: --ca-validity-days ${String(ca)} must be more than --leaf-validity-days ${String(leaf)}: a CA must outlive the leaves it signs`,
  },
  EMTLS_CLI_CERTS_NO_NAMESPACE: { exit: 2, text: () => 'certs: no namespace: pass -n NAMESPACE (the kubeconfig context names none)' },
  EMTLS_CLI_WORKLOAD_INVALID: {
    exit: 2,
    text: (ref: string) =>
      `workload ${JSON.stringify(ref)}: expected NAME (a Deployment) or KIND/NAME with KIND one of deployment, statefulset, daemonset, replicaset, job, cronjob`,
  },
  EMTLS_CLI_DOCTOR_FILES_TOGETHER: { exit: 2, text: () => '--cert, --key and --cacert go together: give all three' },
  EMTLS_CLI_DOCTOR_WORKLOAD_OFFLINE: { exit: 2, text: () => 'doctor WORKLOAD reads the cluster; offline (-f, --cert) every workload of the manifests is checked' },
  EMTLS_CLI_PROBE_FILES_TOGETHER: { exit: 2, text: () => '--cert, --key and --cacert go together: give all three, or none to read the target\'s Secret' },
  EMTLS_CLI_TARGET_UNKNOWN: { exit: 2, text: (name: string, targets: readonly string[]) => `unknown target ${JSON.stringify(name)} (targets: ${names(targets)})` },
  EMTLS_CLI_TARGET_NAMESPACE_NEEDED: {
    exit: 2,
    text: (target: string, namespaces: readonly string[]) => `target ${target} is available in ${namespaces[0] === '*' ? 'every namespace' : namespaces.join(', ')}: ` +
      'say whose Secret to use with -n NAMESPACE (or give --cert, --key and --cacert)',
  },
  EMTLS_CLI_TARGET_GATEWAY_NAMESPACE: {
    exit: 2,
    text: (target: string, proxy: string, home: string, namespace: string) => `target ${target} originates at the ${proxy}: its Secret is in namespace ${home} only (drop -n ${namespace})`,
  },
  EMTLS_CLI_CONNECT_TO_INVALID: { exit: 2, text: (value: string) => `--connect-to ${JSON.stringify(value)}: must be HOST:PORT, e.g. 127.0.0.1:8443` },
  EMTLS_CLI_NO_KUBECONFIG: {
    exit: 2,
    text: () => 'no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config (in a pod, the service account is used)',
  },
  EMTLS_CLI_KUBECONFIG_UNREADABLE: { exit: 2, text: (source: string, why: string) => `kubeconfig ${source}: cannot read: ${why}` },
  EMTLS_CLI_KUBECONFIG_INVALID: { exit: 2, text: (source: string, why: string) => `kubeconfig ${source}: not a valid kubeconfig: ${why}` },
  EMTLS_CLI_CONTEXT_UNKNOWN: {
    exit: 2,
    text: (source: string, context: string, contexts: readonly string[]) => `kubeconfig ${source}: no context "${context}" (contexts: ${names(contexts)})`,
  },
  EMTLS_CLI_NO_CURRENT_CONTEXT: {
    exit: 2,
    text: (source: string, contexts: readonly string[]) => `kubeconfig ${source}: no current context: pass --context NAME (contexts: ${names(contexts)})`,
  },
  EMTLS_CLI_CONTEXT_NO_SERVER: { exit: 2, text: (source: string, context: string) => `kubeconfig ${source}: context "${context}" names no cluster with a server` },
  EMTLS_CLI_API_UNREACHABLE: { exit: 2, text: (server: string, why: string) => `cannot reach the API server ${server}: ${why}` },
  // ---- input: the configuration and the files read (exit 2) ----
  EMTLS_CLI_CONFIG_INVALID: { exit: 2, text: formatIssues },
  EMTLS_CLI_INPUT_UNREADABLE: { exit: 2, text: (source: string, why: string) => `${source}: cannot read: ${why}` },
  EMTLS_CLI_DIRECTORY_UNREADABLE: { exit: 2, text: (source: string, why: string) => `${source}: cannot read the directory: ${why}` },
  EMTLS_CLI_MATERIAL_UNREADABLE: { exit: 2, text: (source: string, why: string) => `${source}: cannot be read: ${why}` },
  EMTLS_CLI_INPUT_TOO_LARGE: { exit: 2, text: (source: string, mib: number) => `${source}: too large: a file or stdin may be at most ${mib} MiB (split it; there is no limit on how many)` },
  EMTLS_CLI_INPUT_BINARY: { exit: 2, text: (source: string, line: number) => `${at(source, line)}: binary data, not YAML or JSON (a NUL byte)` },
  EMTLS_CLI_INPUT_TOO_DEEP: {
    exit: 2,
    text: (source: string, line: number | undefined, max?: number) =>
      `${at(source, line)}: ${max === undefined ? 'nested too deeply' : `nested more than ${max} levels deep`}`,
  },
  EMTLS_CLI_INPUT_SYNTAX: { exit: 2, text: (source: string, line: number | undefined, why: string) => `${at(source, line)}: ${why}` },
  EMTLS_CLI_INPUT_DUPLICATE_KEY: { exit: 2, text: (source: string, line: number, key: string) => `${at(source, line)}: Map keys must be unique: ${key}` },
  EMTLS_CLI_INPUT_ALIASES: { exit: 2, text: (source: string, line: number | undefined, max: number) => `${at(source, line)}: more than ${max} alias expansions (an alias bomb?)` },
  EMTLS_CLI_INPUT_TOO_MANY_NODES: {
    exit: 2,
    text: (source: string, line: number, max: number) => `${at(source, line)}: the document starting here has more than ${max} YAML nodes (lines, items, collections): split it`,
  },
  EMTLS_CLI_DOCUMENT_TOO_LARGE: {
    exit: 2,
    text: (source: string, line: number, mib: number) => `${at(source, line)}: the document starting here is over ${mib} MiB: a document may be at most that (the API server takes 3 MiB)`,
  },
  // ---- operations: the API server, the ports, the serving certificate (exit 1) ----
  EMTLS_CLI_LISTEN_FAILED: { exit: 1, text: (flag: string, address: string, code: string) => `${flag} ${address}: cannot listen: ${code}` },
  EMTLS_CLI_CERTS_FAILED: { exit: 1, text: (why: string) => `certs: ${why}` },
  EMTLS_CLI_OWNED_UNLISTED: { exit: 1, text: (why: string) => `cannot list the Istio objects egress-mtls owns: ${why}` },
  EMTLS_CLI_OBJECT_UNREADABLE: { exit: 1, text: (object: string, why: string) => `cannot read ${object}: ${why}` },
  EMTLS_CLI_TLS_NOT_PEM: { exit: 1, text: (source: string, why: string) => `${source}: not a PEM certificate (${why})` },
  EMTLS_CLI_TLS_UNUSABLE_PAIR: { exit: 1, text: (source: string, why: string) => `${source}: unusable certificate/key pair (${why})` },
  EMTLS_CLI_TLS_UNREADABLE: { exit: 1, text: (file: string, code: string) => `${file}: cannot read: ${code}` },
} as const)

export type ErrorCode = keyof typeof ERRORS
type Args<C extends ErrorCode> = Parameters<(typeof ERRORS)[C]['text']>

/** The error of `code`, its text made of `args`. */
export function cliError<C extends ErrorCode> (code: C, ...args: Args<C>): EgressMtlsError {
  const { exit, text } = ERRORS[code] as { exit: ExitCode, text: (...a: Args<C>) => string }
  return new EgressMtlsError(code, exit, text(...args))
}

/** The error of `code` caused by `cause` (kept for EGRESS_MTLS_DEBUG and retries). */
export function cliErrorFrom<C extends ErrorCode> (cause: unknown, code: C, ...args: Args<C>): EgressMtlsError {
  const { exit, text } = ERRORS[code] as { exit: ExitCode, text: (...a: Args<C>) => string }
  return new EgressMtlsError(code, exit, text(...args), { cause })
}
