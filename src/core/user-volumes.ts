// Istio's sidecar.istio.io/userVolume and sidecar.istio.io/userVolumeMount annotation values
// in both forms Istio accepts: a JSON object keyed by name (`{"v":{"secret":{...}}}`) and a
// JSON array of named items (`[{"name":"v","secret":{...}}]`). Parsing keeps the entries in
// their order and exactly as written; serializing is compact and deterministic, so that a
// value written once parses and re-serializes to the same bytes. Pure.
import type { AnnotationFormat } from './config.ts'
import { isRecord, jsonEqual, type JsonRecord } from './json.ts'

export interface Entry {
  readonly name: string
  /** As written: the value under the key (map form) or the whole item, `name` included (array form). */
  readonly value: JsonRecord
}

export interface UserVolumes {
  readonly form: AnnotationFormat
  readonly entries: readonly Entry[]
}

/** The value of the annotation, or why it is neither form. */
export function parseUserVolumes (text: string): UserVolumes | { readonly error: string } {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    return { error: `is not valid JSON (${(err as Error).message})` }
  }
  if (Array.isArray(parsed)) {
    const entries: Entry[] = []
    for (const [i, item] of parsed.entries()) {
      if (!isRecord(item) || typeof item['name'] !== 'string' || item['name'] === '') {
        return { error: `is a JSON array whose item ${i} is not an object with a "name"` }
      }
      entries.push({ name: item['name'], value: item })
    }
    return { form: 'array', entries }
  }
  if (isRecord(parsed)) {
    for (const [name, value] of Object.entries(parsed)) {
      if (!isRecord(value)) return { error: `is a JSON object whose entry ${JSON.stringify(name)} is not an object` }
    }
    return { form: 'map', entries: keysInOrder(text).map((name) => ({ name, value: parsed[name] as JsonRecord })) }
  }
  return { error: 'is neither a JSON object keyed by name nor a JSON array of named items' }
}

/** Compact JSON of the entries in the given form, in their order. */
export function serializeUserVolumes ({ form, entries }: UserVolumes): string {
  if (form === 'array') return JSON.stringify(entries.map((e) => e.value))
  return `{${entries.map((e) => `${JSON.stringify(e.name)}:${JSON.stringify(e.value)}`).join(',')}}`
}

/** An entry in the given form from a name and the rest of the volume (or mount). */
export function entry (form: AnnotationFormat, name: string, body: JsonRecord): Entry {
  return { name, value: form === 'map' ? body : { name, ...body } }
}

/** Whether an entry, whatever its form, is this volume (or mount). */
export function sameEntry (e: Entry, name: string, body: JsonRecord): boolean {
  return e.name === name && jsonEqual({ ...e.value, name: e.name }, { ...body, name })
}

/**
 * The top-level keys of a JSON object text in the order written (JSON.parse puts
 * integer-like keys first). The text is known to parse; a repeated key counts once, at its
 * first place, with its last value, as JSON.parse and Go's encoding/json do.
 */
function keysInOrder (text: string): string[] {
  const keys = new Set<string>()
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) { // "
      const start = i
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++ // \ escapes one
      // Every value of the top object is an object, so a string at depth 1 is a key.
      if (depth === 1) keys.add(JSON.parse(text.slice(start, i + 1)) as string)
    } else if (c === 0x7b || c === 0x5b) { // { [
      depth++
    } else if (c === 0x7d || c === 0x5d) { // } ]
      depth--
    }
  }
  return [...keys]
}
