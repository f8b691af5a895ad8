// Durations as Go reads them. kube-apiserver's CEL `duration()` (Istio's CRD rule
// `duration(self) >= duration('1ms')`) and istiod (jsonpb's Duration) both parse with Go's
// time.ParseDuration, so a configuration's duration is judged here by the same arithmetic:
// a uint64 accumulator that overflows past 2^63 ns, and float64 for fractions.

const UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
}

const TWO63 = 1n << 63n
const TEN = 10n

export const MILLISECOND = 1_000_000n
export const HOUR = 3_600_000_000_000n

/**
 * Nanoseconds of a non-negative duration text as Go's time.ParseDuration computes them, or
 * undefined where Go reports an error (syntax, unknown unit, overflow).
 */
export function parseGoDuration (text: string): bigint | undefined {
  let s = text
  if (s.startsWith('+')) s = s.slice(1)
  if (s === '0') return 0n
  if (s === '') return undefined
  let d = 0n
  while (s !== '') {
    const c = s.charCodeAt(0)
    if (!(c === 0x2e || (c >= 0x30 && c <= 0x39))) return undefined
    // [0-9]*
    let v = 0n
    let i = 0
    for (; i < s.length && isDigit(s.charCodeAt(i)); i++) {
      if (v > TWO63 / TEN) return undefined
      v = v * TEN + BigInt(s.charCodeAt(i) - 0x30)
      if (v > TWO63) return undefined
    }
    const pre = i > 0
    s = s.slice(i)
    // (\.[0-9]*)?
    let f = 0n
    let scale = 1
    let post = false
    if (s.startsWith('.')) {
      s = s.slice(1)
      let overflow = false
      let j = 0
      for (; j < s.length && isDigit(s.charCodeAt(j)); j++) {
        if (overflow) continue
        if (f > (TWO63 - 1n) / TEN) { overflow = true; continue }
        const y = f * TEN + BigInt(s.charCodeAt(j) - 0x30)
        if (y > TWO63) { overflow = true; continue }
        f = y
        scale *= 10
      }
      post = j > 0
      s = s.slice(j)
    }
    if (!pre && !post) return undefined
    // The unit.
    let k = 0
    for (; k < s.length; k++) {
      const u = s.charCodeAt(k)
      if (u === 0x2e || isDigit(u)) break
    }
    if (k === 0) return undefined
    const unit = UNITS[s.slice(0, k)]
    if (unit === undefined) return undefined
    s = s.slice(k)
    if (v > TWO63 / unit) return undefined
    v *= unit
    if (f > 0n) {
      // Go: v += uint64(float64(f) * (float64(unit) / scale))
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)))
      if (v > TWO63) return undefined
    }
    d += v
    if (d > TWO63) return undefined
  }
  return d > TWO63 - 1n ? undefined : d
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39
