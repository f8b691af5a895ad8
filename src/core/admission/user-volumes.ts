// Istio's sidecar.istio.io/userVolume and sidecar.istio.io/userVolumeMount annotation values
// in both forms Istio accepts: a JSON object keyed by name (`{"v":{"secret":{...}}}`) and a
// JSON array of named items (`[{"name":"v","secret":{...}}]`).
//
// A value is edited as text: each entry keeps the exact text it was written with (numbers
// such as 9007199254740993 or 1.50 that JSON.parse would round or reformat, string escapes,
// key order, spacing inside it), and so does everything around the entries that stay. Parsed
// values serve only to read names and to compare an entry with the one egress-mtls writes;
// they are never serialized back. Entries egress-mtls adds are compact JSON. Pure.
//
// Bounded: a value over 256 KiB (which the API server never stores) or nested deeper than
// 64 levels is refused before JSON.parse sees it (json-text.ts).
import { isRecord, jsonEqual, type JsonRecord } from '../base/json.ts'
import { fail, ok, type Result } from '../base/result.ts'
import type { AnnotationFormat } from '../config/config.ts'
import { MAX_JSON_DEPTH, nestsDeeper, objectMembers, OVER_ANNOTATION_LIMIT, overAnnotationLimit, topLevelItems } from '../text/json-text.ts'

export interface Entry {
  readonly name: string
  /** As parsed: the value under the key (map form) or the whole item, `name` included (array form). */
  readonly value: JsonRecord
  /** Exactly as written: `"name": {...}` (map form) or `{...}` (array form). */
  readonly text: string
}

export interface UserVolumes {
  readonly form: AnnotationFormat
  readonly entries: readonly Entry[]
  /** The text before the first entry (or, without entries, up to and including the opening bracket). */
  readonly head: string
  /** The text between entry i and entry i + 1: a comma and the spacing around it. */
  readonly separators: readonly string[]
  /** The text after the last entry (or, without entries, the rest after the opening bracket). */
  readonly tail: string
}

/** Why an annotation value cannot be read at all, or undefined: its size and nesting depth. */
function unboundedValue (text: string): string | undefined {
  if (overAnnotationLimit(text)) return OVER_ANNOTATION_LIMIT
  if (nestsDeeper(text, MAX_JSON_DEPTH)) return `nests deeper than ${MAX_JSON_DEPTH} levels: refused unread`
  return undefined
}

/** The value of the annotation, or why it is neither form. */
export function parseUserVolumes (text: string): Result<UserVolumes> {
  const unbounded = unboundedValue(text)
  if (unbounded !== undefined) return fail(unbounded)
  // The map form's members are read one by one (objectMembers); JSON.parse of the whole
  // value only for the array form, and for the message of a value that is not JSON.
  const members = objectMembers(text)
  let parsed: unknown
  if (members === undefined) {
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      return fail(`is not valid JSON (${(err as Error).message})`)
    }
    if (!Array.isArray(parsed)) return fail('is neither a JSON object keyed by name nor a JSON array of named items')
  }
  const { items, inside } = members ?? topLevelItems(text)
  const entries: Entry[] = []
  for (const [i, span] of items.entries()) {
    const itemText = text.slice(span.start, span.end)
    if (members === undefined) {
      const item: unknown = (parsed as unknown[])[i]
      if (!isRecord(item) || typeof item['name'] !== 'string' || item['name'] === '') {
        return fail(`is a JSON array whose item ${i} is not an object with a "name"`)
      }
      entries.push({ name: item['name'], value: item, text: itemText })
    } else {
      // Each member on its own: a repeated key is two entries, each with its own value.
      const name = members.keys[i] ?? ''
      const value = members.values[i]
      if (!isRecord(value)) return fail(`is a JSON object whose entry ${JSON.stringify(name)} is not an object`)
      entries.push({ name, value, text: itemText })
    }
  }
  const first = items[0]
  const last = items.at(-1)
  return ok({
    form: members === undefined ? 'array' : 'map',
    entries,
    head: text.slice(0, first?.start ?? inside.start),
    separators: items.slice(1).map((s, i) => text.slice(items[i]?.end, s.start)),
    tail: text.slice(last?.end ?? inside.start),
  })
}

/** A new value holding only these entries (all of them egress-mtls's), compact. */
export function newUserVolumes (form: AnnotationFormat, entries: readonly Entry[]): string {
  const texts = entries.map((e) => e.text).join(',')
  return form === 'array' ? `[${texts}]` : `{${texts}}`
}

/**
 * The value with entry i replaced by `edits[i]` (undefined: removed) and `added` appended.
 * Entries kept, and the text around them, are copied as written. A removed entry takes the
 * separator before it (the one after it, when first) with it, so that appending entries and
 * removing them again gives back the value as it was, byte for byte. One pass over the
 * entries, each piece of text joined once: linear in the value's length.
 */
export function editUserVolumes (value: UserVolumes, edits: readonly (Entry | undefined)[], added: readonly Entry[]): string {
  const parts: string[] = [value.head]
  let kept = 0
  for (let i = 0; i < value.entries.length; i++) {
    const edit = edits[i]
    if (edit === undefined) continue
    // A kept entry after another brings the separator written before it.
    if (kept > 0) parts.push(value.separators[i - 1] ?? ',')
    parts.push(edit.text)
    kept++
  }
  for (const e of added) {
    if (kept > 0) parts.push(',')
    parts.push(e.text)
    kept++
  }
  parts.push(value.tail)
  return parts.join('')
}

/** An entry in the given form from a name and the rest of the volume (or mount), as compact JSON. */
export function entry (form: AnnotationFormat, name: string, body: JsonRecord): Entry {
  return form === 'map'
    ? { name, value: body, text: `${JSON.stringify(name)}:${JSON.stringify(body)}` }
    : { name, value: { name, ...body }, text: JSON.stringify({ name, ...body }) }
}

/** Whether an entry, whatever its form, is this volume (or mount). */
export function sameEntry (e: Pick<Entry, 'name' | 'value'>, name: string, body: JsonRecord): boolean {
  return e.name === name && jsonEqual({ ...e.value, name: e.name }, { ...body, name })
}
