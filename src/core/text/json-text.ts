// JSON as text: the bounds checked before an annotation value is parsed, and the spans of
// a JSON object's or array's top-level items, so that a value can be edited around the
// user's entries without re-serializing them (their numbers, escapes, key order and spacing
// stay exactly as written). Scanners only: one pass over the characters, no allocation per
// character, no recursion. Pure.

/**
 * The API server's limit for all annotations of one object together (256 KiB, counted in
 * bytes of keys and values). It runs mutating admission before it checks that limit, so
 * the webhook can be sent values of megabytes; no value over it can ever be stored.
 *
 * A value over it (or nested deeper than MAX_JSON_DEPTH) in an annotation egress-mtls must
 * read is DENIED, not allowed unchanged with a warning: the object could not be stored
 * anyway, so the denial loses nothing and names the annotation before the API server's
 * generic message; allowing it would mean admitting an opted-in workload without its
 * certificates (or with stale entries of ours) had the limit been different. The one
 * exception is an UPDATE of a Job, whose template cannot change: a warning (admit.ts).
 */
export const MAX_ANNOTATION_BYTES = 256 * 1024

/**
 * Nesting allowed in the annotation values egress-mtls parses. A volume of Istio's
 * userVolume (a Kubernetes Volume, a projected one included) nests about 8 levels.
 */
export const MAX_JSON_DEPTH = 64

/** What a message says of a value over MAX_ANNOTATION_BYTES, after the annotation's name. */
export const OVER_ANNOTATION_LIMIT = `is over ${MAX_ANNOTATION_BYTES} bytes (256 KiB, the API server's limit for all annotations of an object together): refused unread`

/** Whether a value is over MAX_ANNOTATION_BYTES in UTF-8, reading at most that many characters. */
export function overAnnotationLimit (text: string): boolean {
  if (text.length > MAX_ANNOTATION_BYTES) return true
  // A UTF-16 unit is at most 3 bytes of UTF-8 (a surrogate pair, 2 units, is 4).
  return text.length * 3 > MAX_ANNOTATION_BYTES && Buffer.byteLength(text, 'utf8') > MAX_ANNOTATION_BYTES
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const COMMA = 0x2c

/** The index of the quote that closes the string opening at `start` (text.length if none). */
export function stringEnd (text: string, start: number): number {
  let i = start + 1
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) return i
    if (c === BACKSLASH) i++ // escapes one (\uXXXX: its hex digits are no quotes)
  }
  return i
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

/**
 * Whether brackets and braces (outside strings) nest deeper than `max` in this text, valid
 * JSON or not. Run before JSON.parse: V8 parses any depth, building every level.
 */
export function nestsDeeper (text: string, max: number): boolean {
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      i = stringEnd(text, i)
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--
    }
  }
  return false
}

/** [start, end) of a piece of text. */
export interface Span { readonly start: number, readonly end: number }

/**
 * The top-level items of a text that is a valid JSON object or array (JSON.parse accepted
 * it): each item's span without the whitespace around it (an object's item is its
 * `"key": value` member), and the span inside the brackets when there is no item.
 */
export function topLevelItems (text: string): { readonly items: readonly Span[], readonly inside: Span } {
  const items: Span[] = []
  let depth = 0
  let open = -1
  let itemStart = -1
  let lastEnd = -1
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (isSpace(c)) continue
    if (depth === 1 && c === COMMA) {
      items.push({ start: itemStart, end: lastEnd })
      itemStart = -1
      continue
    }
    if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 0) {
        if (itemStart >= 0) items.push({ start: itemStart, end: lastEnd })
        return { items, inside: { start: open + 1, end: i } }
      }
      lastEnd = i + 1
      continue
    }
    if (depth === 1 && itemStart < 0) itemStart = i
    if (c === QUOTE) {
      i = stringEnd(text, i)
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (depth++ === 0) open = i
    }
    lastEnd = i + 1
  }
  return { items, inside: { start: open + 1, end: Math.max(open + 1, text.length) } }
}

/** A JSON object's members, each key and value parsed on its own, with the spans of topLevelItems. */
export interface ObjectMembers {
  readonly items: readonly Span[]
  readonly inside: Span
  readonly keys: readonly string[]
  readonly values: readonly unknown[]
}

const onlySpace = /^[ \t\n\r]*$/
const openingBrace = /^[ \t\n\r]*\{[ \t\n\r]*$/
const closingBrace = /^[ \t\n\r]*\}[ \t\n\r]*$/
const comma = /^[ \t\n\r]*,[ \t\n\r]*$/

/**
 * The members of a text that is exactly one JSON object, or undefined when it is not one
 * (any syntax error, or another JSON value). Each member is parsed on its own (a repeated
 * key is two members), so the object itself is never built: V8's JSON.parse of one object
 * with tens of thousands of keys costs more per key the more there are.
 */
export function objectMembers (text: string): ObjectMembers | undefined {
  const { items, inside } = topLevelItems(text)
  const first = items[0]
  const opening = first === undefined ? text.slice(0, inside.start) + text.slice(inside.start, inside.end) : text.slice(0, first.start)
  if (!openingBrace.test(opening) || !closingBrace.test(text.slice(items.at(-1)?.end ?? inside.end))) return undefined
  const keys: string[] = []
  const values: unknown[] = []
  let previousEnd = -1
  for (const span of items) {
    if (previousEnd >= 0 && !comma.test(text.slice(previousEnd, span.start))) return undefined
    previousEnd = span.end
    const member = text.slice(span.start, span.end)
    if (member.charCodeAt(0) !== QUOTE) return undefined
    const keyEnd = stringEnd(member, 0) + 1
    const colon = member.indexOf(':', keyEnd)
    if (colon < 0 || !onlySpace.test(member.slice(keyEnd, colon))) return undefined
    try {
      keys.push(JSON.parse(member.slice(0, keyEnd)) as string)
      values.push(JSON.parse(member.slice(colon + 1)))
    } catch {
      return undefined
    }
  }
  return { items, inside, keys, values }
}
