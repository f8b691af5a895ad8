// The findings of `doctor` and `probe` on stdout: `ok|warn|fail SUBJECT: MESSAGE` lines and a
// count (`-o text`, the default), or one YAML or JSON document (`-o yaml|json`) holding the
// same findings, the count and whatever else the command reports.
import { exitCode, type Finding, formatFinding, formatSummary, summarize } from '../core/base/findings.ts'
import { writeDocument } from '../core/text/document.ts'
import type { Io } from './options.ts'
import type { OutputFormat } from './output.ts'

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
    io.stdout.write(writeDocument(format, { ...details, findings, summary }))
  }
  return exitCode(findings)
}
