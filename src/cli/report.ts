// The findings of `doctor` and `probe` on stdout: `ok|warn|fail SUBJECT: MESSAGE` lines and a
// count (`-o text`, the default), or one YAML or JSON document (`-o yaml|json`) holding the
// same findings, the count and whatever else the command reports.
import { stringify } from 'yaml'

import { exitCode, type Finding, formatFinding, formatSummary, summarize } from '../core/base/findings.ts'
import type { Io } from './options.ts'

export type OutputFormat = 'text' | 'yaml' | 'json'
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['text', 'yaml', 'json']

/** Writes the report; returns the exit code (1 when any finding fails). */
export function writeReport (
  io: Io,
  command: string,
  format: OutputFormat,
  findings: readonly Finding[],
  details: Readonly<Record<string, unknown>> = {},
): 0 | 1 {
  const summary = summarize(findings)
  if (format === 'text') {
    for (const f of findings) io.stdout.write(`${formatFinding(f)}\n`)
    io.stdout.write(`${formatSummary(command, summary)}\n`)
  } else {
    const document = { ...details, findings, summary }
    io.stdout.write(format === 'json' ? `${JSON.stringify(document, null, 2)}\n` : stringify(document, { lineWidth: 0 }))
  }
  return exitCode(findings)
}
