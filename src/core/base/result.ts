// The one way core says that something failed: a tagged result, the value or the error.
// Checks that find problems (not failures) return them as data; predicates return booleans.

export type Result<T, E = string> = { readonly ok: true, readonly value: T } | { readonly ok: false, readonly error: E }

export function ok<T> (value: T): { readonly ok: true, readonly value: T } {
  return { ok: true, value }
}

export function fail<E> (error: E): { readonly ok: false, readonly error: E } {
  return { ok: false, error }
}
