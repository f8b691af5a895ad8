// A JSON value checked without being built: where it ends in UTF-8 bytes, or that it is not
// JSON. For a part of a body that is never read (an AdmissionReview's oldObject), this is a
// scan where JSON.parse would allocate every object, array and string of it. Pure.

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const MINUS = 0x2d
const PLUS = 0x2b
const DOT = 0x2e
const ZERO = 0x30
const NINE = 0x39

// Reads past the end give undefined, which every test below answers false: a value cut short
// is not JSON.
const isDigit = (c: number | undefined): boolean => c !== undefined && c >= ZERO && c <= NINE
const isHex = (c: number | undefined): boolean => c !== undefined && (isDigit(c) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66))
/** The single-character escapes after a backslash: " \ / b f n r t. */
const isEscape = (c: number | undefined): boolean =>
  c === QUOTE || c === BACKSLASH || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74

/** The index after the whitespace (RFC 8259: space, tab, line feed, carriage return) at `i`. */
function skipSpace (bytes: Uint8Array, i: number): number {
  for (;;) {
    const c = bytes[i]
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i
    i++
  }
}

/** The bytes that end or interrupt a string's plain run: the quote, the backslash, control characters. */
const SPECIAL = new Uint8Array(256)
for (let c = 0; c < 0x20; c++) SPECIAL[c] = 1
SPECIAL[QUOTE] = 1
SPECIAL[BACKSLASH] = 1

/** The index after the string whose opening quote is at `i`, or -1. */
function stringEnd (bytes: Uint8Array, i: number): number {
  const n = bytes.length
  for (i++; i < n; i++) {
    const c = bytes[i] ?? 0
    if (SPECIAL[c] === 0) continue
    if (c === QUOTE) return i + 1
    // A control character: a JSON string must escape it. Bytes from 0x80 on are UTF-8: any of
    // them may stand in a string, as JSON.parse of the decoded text (malformed sequences
    // decode to U+FFFD) would accept them.
    if (c !== BACKSLASH) return -1
    const e = bytes[++i]
    if (e === 0x75) {
      if (!(isHex(bytes[i + 1]) && isHex(bytes[i + 2]) && isHex(bytes[i + 3]) && isHex(bytes[i + 4]))) return -1
      i += 4
    } else if (!isEscape(e)) {
      return -1
    }
  }
  // The bytes ended inside the string.
  return -1
}

/** The index after the number starting at `i`, or -1: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
function numberEnd (bytes: Uint8Array, i: number): number {
  if (bytes[i] === MINUS) i++
  if (bytes[i] === ZERO) i++
  else if (isDigit(bytes[i])) while (isDigit(bytes[++i]));
  else return -1
  if (bytes[i] === DOT) {
    if (!isDigit(bytes[++i])) return -1
    while (isDigit(bytes[++i]));
  }
  const e = bytes[i]
  if (e === 0x65 || e === 0x45) {
    const s = bytes[++i]
    if (s === PLUS || s === MINUS) i++
    if (!isDigit(bytes[i])) return -1
    while (isDigit(bytes[++i]));
  }
  return i
}

/** Whether `word` (ASCII) is at `i`. */
function wordAt (bytes: Uint8Array, i: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) if (bytes[i + k] !== word.charCodeAt(k)) return false
  return true
}

/** From an object member's key at `i`: the index of its value (after the colon and whitespace), or -1. */
function memberValue (bytes: Uint8Array, i: number): number {
  if (bytes[i] !== QUOTE) return -1
  i = stringEnd(bytes, i)
  if (i === -1) return -1
  i = skipSpace(bytes, i)
  if (bytes[i] !== COLON) return -1
  return skipSpace(bytes, i + 1)
}

/**
 * Where the JSON value at `start` in `bytes` ends (whitespace before it skipped, none after),
 * or -1 if no JSON value (RFC 8259, as JSON.parse reads it) starts there. Iterative: nesting
 * of any depth costs no stack, and the work is one pass over the value's bytes.
 */
export function jsonValueEnd (bytes: Uint8Array, start: number): number {
  // The containers open around i, innermost last: true for an object, false for an array.
  const open: boolean[] = []
  let i = skipSpace(bytes, start)
  for (;;) {
    // A value starts at i.
    const c = bytes[i]
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      i = skipSpace(bytes, i + 1)
      if (bytes[i] === (c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        i++
      } else {
        open.push(c === OPEN_OBJECT)
        if (c === OPEN_OBJECT) i = memberValue(bytes, i)
        if (i === -1) return -1
        continue
      }
    } else if (c === QUOTE) {
      i = stringEnd(bytes, i)
    } else if (c === MINUS || isDigit(c)) {
      i = numberEnd(bytes, i)
    } else if (wordAt(bytes, i, 'true') || wordAt(bytes, i, 'null')) {
      i += 4
    } else if (wordAt(bytes, i, 'false')) {
      i += 5
    } else {
      return -1
    }
    if (i === -1) return -1
    // A value ended at i: close containers until a comma leads to the next value.
    for (;;) {
      if (open.length === 0) return i
      i = skipSpace(bytes, i)
      const inObject = open[open.length - 1]
      if (bytes[i] === COMMA) {
        i = skipSpace(bytes, i + 1)
        if (inObject === true) i = memberValue(bytes, i)
        if (i === -1) return -1
        break
      }
      if (bytes[i] !== (inObject === true ? CLOSE_OBJECT : CLOSE_ARRAY)) return -1
      open.pop()
      i++
    }
  }
}

/**
 * How many containers the bytes from `start` to the end close, net (closing brackets less
 * opening ones, strings skipped), or -1 where a string does not end. Of a text that parses as
 * JSON, this is how deep `start` stands: 2 inside a member of a member of the top object.
 */
export function depthClosed (bytes: Uint8Array, start: number): number {
  let depth = 0
  const n = bytes.length
  for (let i = start; i < n; i++) {
    const c = bytes[i]
    if (c === QUOTE) {
      i = stringEnd(bytes, i) - 1
      if (i === -2) return -1
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth--
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth++
    }
  }
  return depth
}
