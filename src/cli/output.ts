// `-o text|yaml|json`: the findings and plans as lines (`text`), or objects as kubectl prints
// them: YAML documents separated by `---`, or JSON (one object as it is, several wrapped in a
// `v1 List`), two-space indented. Shared by every command that prints (inject, render, doctor,
// probe, provision --dry-run, version).
import { Option } from 'commander'

import { DOCUMENT_FORMATS, type DocumentFormat, writeDocument } from '../core/text/document.ts'

export const OUTPUT_FORMATS = ['text', ...DOCUMENT_FORMATS] as const
export type OutputFormat = typeof OUTPUT_FORMATS[number]

/** The `-o, --output <format>` option offering `formats`; without a default unless one is given. */
export function outputOption (formats: readonly OutputFormat[], defaultFormat?: OutputFormat, description = 'output format'): Option {
  const option = new Option('-o, --output <format>', description).choices(formats)
  return defaultFormat === undefined ? option : option.default(defaultFormat)
}

/** The text of `values` in `format`, ending in a newline (empty for no values). */
export function formatObjects (values: readonly unknown[], format: DocumentFormat): string {
  if (values.length === 0) return ''
  if (format === 'json') {
    return writeDocument('json', values.length === 1 ? values[0] : { apiVersion: 'v1', kind: 'List', items: values, metadata: { resourceVersion: '' } })
  }
  return values.map((v) => writeDocument('yaml', v)).join('---\n')
}
