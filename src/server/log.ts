// The logger of `serve` and `monitor`: pino, with level names and ISO 8601 times, as JSON lines (for log
// collectors; the default) or as text lines (for people at a terminal).
import type { Writable } from 'node:stream'

import { type Logger, pino, stdTimeFunctions } from 'pino'

export const LOG_FORMATS = ['json', 'text'] as const
export type LogFormat = typeof LOG_FORMATS[number]

const plain = /^[^\s"=\\]+$/

/**
 * One JSON line of pino as `TIME LEVEL message key=value ...`; strings with spaces, quotes or
 * `=` and every non-string are JSON, so a line still parses unambiguously.
 */
export function textLine (json: string): string {
  const { time, level, msg, pid: _pid, hostname: _hostname, ...fields } = JSON.parse(json) as Record<string, unknown>
  const pairs = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' && plain.test(v) ? v : JSON.stringify(v)}`)
  return `${String(time)} ${String(level).toUpperCase().padEnd(5)} ${String(msg)}${pairs.map((p) => ` ${p}`).join('')}\n`
}

export function createLogger (level: string, format: LogFormat, out: Writable): Logger {
  const options = {
    level,
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  }
  return format === 'json'
    ? pino(options, out)
    : pino(options, { write: (line: string) => { out.write(textLine(line)) } })
}
