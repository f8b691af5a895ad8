// The configuration file of docs/design.md read: text in, a frozen Config out, or the issues
// found, each naming the field and the line (the shells name the file and make it the exit-2
// ConfigError: io/config-file.ts). The schema (schema.ts) and the rules across fields
// (rules.ts) judge together, in one pass; the defaults (defaults.ts) complete what passed.
// Pure.
import { LineCounter, parseDocument } from 'yaml'

import type { ConfigIssue } from '../../errors.ts'
import { deepFreeze, isRecord } from '../base/json.ts'
import { fail, ok, type Result } from '../base/result.ts'
import { yamlTooDeep } from '../text/yaml-nesting.ts'
import type { Config } from './config.ts'
import { type RawConfig, withDefaults } from './defaults.ts'
import { egressGatewayIssues } from './egress-gateway.ts'
import { fieldLines, lineAt } from './locate.ts'
import { formatPath, schemaMessage } from './messages.ts'
import { crossCheck } from './rules.ts'
import { validate } from './schema.ts'
import { waypointIssues } from './waypoint.ts'

/** The largest configuration accepted: what one ConfigMap can hold. */
export const MAX_CONFIG_BYTES = 1024 * 1024
/** Deeper than any configuration needs (it nests 4 levels); bounds the parser's recursion. */
const MAX_CONFIG_DEPTH = 32
/** Aliases a configuration may expand (the yaml library's default, said here on purpose). */
const MAX_ALIASES = 100
// C0 controls other than tab, line feed and carriage return, and DEL: YAML and JSON allow none.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/

/** A configuration, or every issue found in it. */
export type ConfigResult = Result<Config, readonly ConfigIssue[]>

/** One issue of the whole text (no field). */
const whole = (message: string, line?: number): ConfigResult => fail([line === undefined ? { path: '', message } : { path: '', message, line }])

/**
 * Parses and validates a configuration file's text (YAML or JSON). Every problem found is
 * reported at once; hostile text (huge, binary, deeply nested, alias bombs) is refused
 * before the parser spends memory on it.
 */
export function parseConfig (text: string): ConfigResult {
  const bytes = Buffer.byteLength(text)
  if (bytes > MAX_CONFIG_BYTES) return whole(`is ${bytes} bytes; a configuration is at most ${MAX_CONFIG_BYTES} bytes (1 MiB, what a ConfigMap holds)`)
  const control = CONTROL.exec(text)
  if (control !== null) {
    const code = text.charCodeAt(control.index).toString(16).padStart(4, '0').toUpperCase()
    return whole(`contains the control character U+${code}: not a YAML or JSON text`, lineAt(text, control.index))
  }
  const deep = yamlTooDeep(text, MAX_CONFIG_DEPTH)
  if (deep !== undefined) return whole(`nests deeper than ${MAX_CONFIG_DEPTH} levels`, deep.line)

  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    return fail(doc.errors.map((e) => ({
      path: '', message: e.message.split('\n')[0] ?? e.message, line: lineCounter.linePos(e.pos[0]).line,
    })))
  }
  let raw: unknown
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIASES })
  } catch (err) {
    // The yaml library refuses excessive aliases (a "billion laughs") with a ReferenceError.
    return whole(`cannot be read: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (raw === null || raw === undefined) {
    return whole('is empty: a configuration needs at least `targets` (write `targets: []` to inject nothing on purpose)')
  }
  return resolveConfig(raw, fieldLines(doc, lineCounter))
}

/**
 * Validates an already parsed configuration object and applies the defaults. Schema errors
 * and the rules across fields are reported together, in one pass.
 * `lineOf` maps a field path to its line in the source, when the source has lines.
 */
export function resolveConfig (raw: unknown, lineOf: (path: readonly string[]) => number | undefined = () => undefined): ConfigResult {
  const issue = (path: readonly string[], msg: string): ConfigIssue => {
    const line = lineOf(path)
    return line === undefined ? { path: formatPath(path), message: msg } : { path: formatPath(path), message: msg, line }
  }
  if (!isRecord(raw)) return fail([issue([], 'must be a mapping of configuration fields')])
  const seen = new Set<string>()
  const issues: ConfigIssue[] = []
  const add = (path: readonly string[], msg: string): void => {
    const i = issue(path, msg)
    const key = `${i.path}\0${i.message}`
    if (!seen.has(key)) { seen.add(key); issues.push(i) }
  }
  for (const e of validate(raw)) {
    // anyOf reports each branch too; the anyOf line alone says it best.
    if (e.schemaPath.includes('/anyOf/') || e.keyword === 'propertyNames') continue
    const m = schemaMessage(e)
    add(m.path, m.message)
  }
  for (const { path, message: msg } of [...crossCheck(raw), ...egressGatewayIssues(raw), ...waypointIssues(raw)]) add(path, msg)
  issues.sort((x, y) => (x.line ?? 0) - (y.line ?? 0))
  if (issues.length > 0) return fail(issues)
  return ok(deepFreeze(withDefaults(raw as RawConfig)))
}
