// A JSON value checked without being built: where it ends in UTF-8 bytes, or that it is not
// JSON. For a part of a body that is never read (an AdmissionReview's oldObject), this is a
// scan where JSON.parse would allocate every object, array and string of it. Pure.
//
// Speed matters here (it runs on every UPDATE review): one loop with a small state instead of
// a call per token, explicit bounds (a read past the end would make V8 handle `undefined` in
// the hot loops), and strings, most of the bytes, read four bytes at a time.

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

/** The bytes that end or interrupt a string's plain run: the quote, the backslash, control characters. */
const SPECIAL = new Uint8Array(256)
for (let c = 0; c < 0x20; c++) SPECIAL[c] = 1
SPECIAL[QUOTE] = 1
SPECIAL[BACKSLASH] = 1
const HEX = new Uint8Array(256)
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1
/** The single-character escapes after a backslash: " \ / b f n r t. */
const ESCAPE = new Uint8Array(256)
for (const c of '"\\/bfnrt') ESCAPE[c.charCodeAt(0)] = 1

const isHex = (c: number | undefined): boolean => HEX[c ?? 0] === 1

/** RFC 8259's whitespace: space, line feed, carriage return, tab. */
const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

/**
 * The high bit of each of the four bytes of `x` that is SPECIAL. Each byte is tested on its
 * own 7 low bits, so no carry crosses into the next byte and every flag is exact: the lowest
 * one is the first special byte (little-endian). Bytes from 0x80 on (UTF-8) are plain.
 */
function specials (x: number): number {
  const quote = x ^ 0x22222222
  const backslash = x ^ 0x5c5c5c5c
  const notControl = ((x & 0x7f7f7f7f) + 0x60606060) | x
  const notQuote = ((quote & 0x7f7f7f7f) + 0x7f7f7f7f) | quote
  const notBackslash = ((backslash & 0x7f7f7f7f) + 0x7f7f7f7f) | backslash
  return ~(notControl & notQuote & notBackslash) & 0x80808080
}

/** From after the opening quote of a string (`i`): the index after its closing quote, or -1. */
function stringEnd (bytes: Uint8Array, view: DataView, i: number, n: number): number {
  for (;;) {
    let flags = 0
    while (i + 4 <= n && (flags = specials(view.getInt32(i, true))) === 0) i += 4
    if (flags !== 0) {
      i += (31 - Math.clz32(flags & -flags)) >> 3
    } else {
      while (i < n && SPECIAL[bytes[i] ?? 0] === 0) i++
      if (i >= n) return -1
    }
    const c = bytes[i] ?? 0
    if (c === QUOTE) return i + 1
    // A control character: a JSON string must escape it. Bytes from 0x80 on are UTF-8: any of
    // them may stand in a string, as JSON.parse of the decoded text (malformed sequences
    // decode to U+FFFD) would accept them.
    if (c !== BACKSLASH || i + 1 >= n) return -1
    const e = bytes[i + 1] ?? 0
    if (ESCAPE[e] === 1) {
      i += 2
    } else if (e === 0x75 && i + 5 < n && isHex(bytes[i + 2]) && isHex(bytes[i + 3]) && isHex(bytes[i + 4]) && isHex(bytes[i + 5])) {
      i += 6
    } else {
      return -1
    }
  }
}

function isDigitAt (bytes: Uint8Array, i: number, n: number): boolean {
  const c = i < n ? bytes[i] ?? 0 : 0
  return c >= ZERO && c <= NINE
}

/** The index after the number starting at `i`, or -1: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
function numberEnd (bytes: Uint8Array, i: number, n: number): number {
  if (bytes[i] === MINUS) i++
  if (i < n && bytes[i] === ZERO) i++
  else if (isDigitAt(bytes, i, n)) while (isDigitAt(bytes, ++i, n));
  else return -1
  if (i < n && bytes[i] === DOT) {
    if (!isDigitAt(bytes, ++i, n)) return -1
    while (isDigitAt(bytes, ++i, n));
  }
  if (i < n && (bytes[i] === 0x65 || bytes[i] === 0x45)) {
    i++
    if (i < n && (bytes[i] === PLUS || bytes[i] === MINUS)) i++
    if (!isDigitAt(bytes, i, n)) return -1
    while (isDigitAt(bytes, ++i, n));
  }
  return i
}

/** The index after the literal true, false or null at `i`, or -1. */
function wordEnd (bytes: Uint8Array, i: number, n: number): number {
  const c = bytes[i]
  const word = c === 0x74 ? 'true' : c === 0x66 ? 'false' : c === 0x6e ? 'null' : ''
  if (word === '' || i + word.length > n) return -1
  for (let k = 1; k < word.length; k++) if (bytes[i + k] !== word.charCodeAt(k)) return -1
  return i + word.length
}

/** What the scan expects next, after whitespace: a value, an object member's key, or what follows a value in a container. */
const VALUE = 0
const KEY = 1
const AFTER = 2

/**
 * Where the JSON value at `start` in `bytes` ends (whitespace before it skipped, none after),
 * or -1 if no JSON value (RFC 8259, as JSON.parse reads it) starts there. Iterative: nesting
 * of any depth costs no stack, and the work is one pass over the value's bytes.
 */
export function jsonValueEnd (bytes: Uint8Array, start: number): number {
  const n = bytes.length
  const view = new DataView(bytes.buffer, bytes.byteOffset, n)
  // The containers open around i, innermost last: 1 for an object, 0 for an array.
  let open = new Uint8Array(64)
  let depth = 0
  let state = VALUE
  let i = start
  for (;;) {
    if (i >= n) return -1
    let c = bytes[i] ?? 0
    if (c <= 0x20 && isSpace(c)) {
      do {
        if (++i >= n) return -1
        c = bytes[i] ?? 0
      } while (isSpace(c))
    }
    if (state === AFTER) {
      // A value ended inside a container: a comma leads to the next one, or the container closes.
      const inObject = open[depth - 1] === 1
      if (c === COMMA) {
        state = inObject ? KEY : VALUE
        i++
      } else if (c === (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        i++
        if (--depth === 0) return i
      } else {
        return -1
      }
      continue
    }
    if (c === QUOTE) {
      i = stringEnd(bytes, view, i + 1, n)
      if (i === -1) return -1
      if (state === KEY) {
        while (i < n && isSpace(bytes[i] ?? 0)) i++
        if (i >= n || bytes[i] !== COLON) return -1
        i++
        state = VALUE
        continue
      }
    } else if (state === KEY) {
      return -1
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      const object = c === OPEN_OBJECT
      i++
      while (i < n && isSpace(bytes[i] ?? 0)) i++
      if (i < n && bytes[i] === (object ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        i++
      } else {
        if (depth === open.length) {
          const grown = new Uint8Array(2 * depth)
          grown.set(open)
          open = grown
        }
        open[depth++] = object ? 1 : 0
        state = object ? KEY : VALUE
        continue
      }
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      i = numberEnd(bytes, i, n)
    } else {
      i = wordEnd(bytes, i, n)
    }
    // A value ended at i.
    if (i === -1) return -1
    if (depth === 0) return i
    state = AFTER
  }
}

/**
 * How many containers the bytes from `start` to the end close, net (closing brackets less
 * opening ones, strings skipped), or -1 where a string does not end. Of a text that parses as
 * JSON, this is how deep `start` stands: 2 inside a member of a member of the top object.
 */
export function depthClosed (bytes: Uint8Array, start: number): number {
  const n = bytes.length
  const view = new DataView(bytes.buffer, bytes.byteOffset, n)
  let depth = 0
  for (let i = start; i < n; i++) {
    const c = bytes[i]
    if (c === QUOTE) {
      i = stringEnd(bytes, view, i + 1, n) - 1
      if (i === -2) return -1
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth--
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth++
    }
  }
  return depth
}
