// What `doctor` and `probe` report: a finding per check (ok, warn, fail) about one subject,
// printed as a line each or as one YAML/JSON document (`-o`). Pure.

export type Level = 'ok' | 'warn' | 'fail'

export interface Finding {
  readonly level: Level
  /** What the finding is about: `Secret payments/bank-api-mtls (target bank-api)`, `deployment/web`. */
  readonly subject: string
  readonly message: string
}

/** ok/warn/fail makers for one subject. */
export function about (subject: string): Record<Level, (message: string) => Finding> {
  return {
    ok: (message) => ({ level: 'ok', subject, message }),
    warn: (message) => ({ level: 'warn', subject, message }),
    fail: (message) => ({ level: 'fail', subject, message }),
  }
}

/** `ok Secret payments/bank-api-mtls: ...` */
export function formatFinding (f: Finding): string {
  return `${f.level} ${f.subject}: ${f.message}`
}

/** 1 when any finding fails, else 0. */
export function exitCode (findings: readonly Finding[]): 0 | 1 {
  return findings.some((f) => f.level === 'fail') ? 1 : 0
}

export interface Summary {
  readonly ok: number
  readonly warn: number
  readonly fail: number
}

export function summarize (findings: readonly Finding[]): Summary {
  const count = (level: Level): number => findings.filter((f) => f.level === level).length
  return { ok: count('ok'), warn: count('warn'), fail: count('fail') }
}

/** `doctor: 3 ok, 1 warn, 0 fail` */
export function formatSummary (command: string, s: Summary): string {
  return `${command}: ${s.ok} ok, ${s.warn} warn, ${s.fail} fail`
}
