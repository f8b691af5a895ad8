// One value as a document on stdout, as kubectl writes and reads them: YAML 1.1 (a string
// "yes" or "on" is quoted, as Istio and kubectl would otherwise read a boolean), long strings
// on one line; or JSON, two-space indented. BigInt values (int64 fields read exactly) are
// written as plain integers in both. Pure.
import { Document } from 'yaml'

import { stringifyJson } from '../base/json.ts'

export const DOCUMENT_FORMATS = ['yaml', 'json'] as const
export type DocumentFormat = typeof DOCUMENT_FORMATS[number]

/** The text of `value` in `format`, ending in a newline. */
export function writeDocument (format: DocumentFormat, value: unknown): string {
  if (format === 'json') return `${stringifyJson(value, '  ')}\n`
  return new Document(value, { version: '1.1' }).toString({ lineWidth: 0 })
}
