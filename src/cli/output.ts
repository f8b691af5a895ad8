// `-o yaml|json`, as kubectl prints objects: YAML documents separated by `---`, or JSON
// (one object as it is, several wrapped in a `v1 List`), two-space indented. Shared by every
// command that prints objects (inject, render, doctor, provision --dry-run).
import { Option } from 'commander'
import { Document } from 'yaml'

import { stringifyJson } from '../core/base/json.ts'

export const OUTPUT_FORMATS = ['yaml', 'json'] as const
export type OutputFormat = typeof OUTPUT_FORMATS[number]

/** The `-o, --output <format>` option; without a default unless one is given. */
export function outputOption (defaultFormat?: OutputFormat): Option {
  const option = new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS)
  return defaultFormat === undefined ? option : option.default(defaultFormat)
}

/**
 * The text of `values` in `format`, ending in a newline (empty for no values). YAML is
 * written as kubectl reads it (YAML 1.1: a string "yes" is quoted), long strings on one line.
 * BigInt values (int64 fields read exactly) are written as plain integers in both formats.
 */
export function formatObjects (values: readonly unknown[], format: OutputFormat): string {
  if (values.length === 0) return ''
  if (format === 'json') {
    const value = values.length === 1 ? values[0] : { apiVersion: 'v1', kind: 'List', items: values, metadata: { resourceVersion: '' } }
    return `${stringifyJson(value, '  ')}\n`
  }
  return values.map((v) => new Document(v, { version: '1.1' }).toString({ lineWidth: 0 })).join('---\n')
}
