// Small helpers for JSON values of unknown shape: the webhook reads whatever the API server
// (or a manifest file) sends and must never throw on it. Pure.

export type JsonRecord = Record<string, unknown>

export const isRecord = (v: unknown): v is JsonRecord => typeof v === 'object' && v !== null && !Array.isArray(v)

export type StringMap = Readonly<Record<string, string>>

/** Whether a value is a Kubernetes string map (labels, annotations): an object of strings. */
export function isStringMap (v: unknown): v is StringMap {
  if (!isRecord(v)) return false
  for (const key in v) if (typeof v[key] !== 'string') return false
  return true
}

/** No labels or annotations: what an absent map reads as. */
export const NO_STRINGS: StringMap = Object.freeze({})

/** Deep equality of JSON values; object key order does not matter, array order does. */
export function jsonEqual (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]))
  }
  if (!isRecord(a) || !isRecord(b)) return false
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]))
}

/** RFC 6901: one reference token (`sidecar.istio.io/userVolume` → `sidecar.istio.io~1userVolume`). */
export function escapePointer (token: string): string {
  // Tokens rarely hold `~`: one scan (or none) instead of two replacements.
  if (token.includes('~')) return token.replaceAll('~', '~0').replaceAll('/', '~1')
  return token.includes('/') ? token.replaceAll('/', '~1') : token
}

/** RFC 6901: one reference token as it reads (`sidecar.istio.io~1userVolume` → `sidecar.istio.io/userVolume`). */
export function unescapePointer (token: string): string {
  return token.replaceAll('~1', '/').replaceAll('~0', '~')
}

/** RFC 6901: the reference tokens of a JSON Pointer (`/a~1b/0` → `a/b`, `0`; `` → none). */
export function pointerTokens (pointer: string): string[] {
  return pointer.split('/').slice(1).map(unescapePointer)
}

/** RFC 6901: a JSON Pointer from its reference tokens. */
export function pointer (tokens: readonly string[]): string {
  return tokens.map((t) => `/${escapePointer(t)}`).join('')
}

/** Freezes a JSON value and everything in it (configurations, shared results). */
export function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

// JSON.rawJSON (V8, Node >= 21) is not in TypeScript's lib yet.
const { rawJSON } = JSON as unknown as { rawJSON: (text: string) => unknown }

/** JSON.stringify that writes BigInt values as integers instead of throwing. */
export function stringifyJson (value: unknown, indent?: string): string {
  return JSON.stringify(value, (_key, v: unknown) => typeof v === 'bigint' ? rawJSON(v.toString()) : v, indent)
}
