// The one catalogue of errors. Each has a stable code and the process exit code it maps to
// (docs/design.md: 0 success, 1 a problem found or a failed operation, 2 bad usage or configuration).

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
    super('EGRESS_MTLS_CONFIG', 2, formatIssues(source, issues))
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

export const usageError = (message: string): EgressMtlsError =>
  new EgressMtlsError('EGRESS_MTLS_USAGE', 2, message)

export const inputError = (source: string, message: string, line?: number): EgressMtlsError =>
  new EgressMtlsError('EGRESS_MTLS_INPUT', 2, line === undefined ? `${source}: ${message}` : `${source}:${line}: ${message}`)

/** A failed operation or a problem found (exit 1). */
export const operationError = (message: string, cause?: unknown): EgressMtlsError =>
  new EgressMtlsError('EGRESS_MTLS_OPERATION', 1, message, cause === undefined ? undefined : { cause })

export const tlsError = (message: string, cause?: unknown): EgressMtlsError =>
  new EgressMtlsError('EGRESS_MTLS_TLS', 1, message, cause === undefined ? undefined : { cause })
