// How deeply a YAML text nests, found by one linear scan before any parser sees it. The yaml
// library recurses per level: 20,000 nested `[` overflow its stack, and a mebibyte of them
// takes it half a minute and a gigabyte before it gives up. This scan costs a few
// milliseconds per mebibyte and no memory.
//
// It counts, per line: the open block collections (a stack of indentation columns), the
// compact `- ` and `? ` indicators before the line's content, and the open flow collections
// (`[`, `{`) outside quoted scalars, comments and block scalars. It may overestimate (a `[`
// that a parser would read as part of a plain scalar after an indicator), never
// underestimate the depth a parser recurses to.

export interface TooDeep {
  /** 1-based line where the limit was passed. */
  readonly line: number
  readonly depth: number
}

const SPACE = 0x20
const TAB = 0x09
const LF = 0x0a
const CR = 0x0d
const HASH = 0x23
const DASH = 0x2d
const QUESTION = 0x3f
const COLON = 0x3a
const COMMA = 0x2c
const OPEN_SQUARE = 0x5b
const CLOSE_SQUARE = 0x5d
const OPEN_CURLY = 0x7b
const CLOSE_CURLY = 0x7d
const SINGLE = 0x27
const DOUBLE = 0x22
const BACKSLASH = 0x5c
const PIPE = 0x7c
const GREATER = 0x3e

const isBlank = (c: number): boolean => c === SPACE || c === TAB
const FLOW_INDICATORS: readonly number[] = [COMMA, OPEN_SQUARE, CLOSE_SQUARE, OPEN_CURLY, CLOSE_CURLY]
const isFlowIndicator = (c: number): boolean => FLOW_INDICATORS.includes(c)
/** Whether `:`, `-` or `?` (c), followed by `next`, is an indicator that starts a node. */
const startsNode = (c: number, next: number, flow: number, quoteEnded: boolean): boolean =>
  isBlank(next) || isBreakOrEnd(next) || (flow > 0 && c === COLON && (quoteEnded || isFlowIndicator(next)))
const isBreakOrEnd = (c: number): boolean => Number.isNaN(c) || c === LF || c === CR

/**
 * The first place where `text` nests deeper than `max` levels, or undefined when it does not.
 */
export function yamlTooDeep (text: string, max: number): TooDeep | undefined {
  const n = text.length
  const indents: number[] = [] // open block collections, by indentation column
  let flow = 0 // open flow collections
  let quote = 0 // SINGLE or DOUBLE while inside a quoted scalar
  let blockScalarIndent = -1 // skip lines indented more than this (inside `|` or `>`)
  let line = 0
  let i = 0
  while (i < n) {
    line++
    // Indentation.
    let col = 0
    while (i + col < n && text.charCodeAt(i + col) === SPACE) col++
    const lineEnd = nextBreak(text, i + col)
    const empty = lineEnd === i + col || text.charCodeAt(i + col) === HASH
    if (blockScalarIndent >= 0) {
      if (empty || col > blockScalarIndent) { i = skipBreak(text, lineEnd); continue }
      blockScalarIndent = -1
    }
    let p = i + col
    if (quote === 0 && flow === 0 && !empty) {
      while (indents.length > 0 && (indents.at(-1) ?? 0) >= col) indents.pop()
      indents.push(col)
      // Compact collections on one line (`- - - x`, `- a: b`, `? - x`): each indicator opens
      // a collection whose content starts at the next column in use.
      for (;;) {
        const c = text.charCodeAt(p)
        if ((c === DASH || c === QUESTION) && (isBlank(text.charCodeAt(p + 1)) || isBreakOrEnd(text.charCodeAt(p + 1)))) {
          p++
          while (isBlank(text.charCodeAt(p))) p++
          indents.push(p - i)
          if (indents.length > max) return { line, depth: indents.length }
        } else break
      }
    }
    const depth = indents.length
    if (depth + flow > max) return { line, depth: depth + flow }
    // The rest of the line: quoted scalars, comments, flow collections, block scalar headers.
    let nodeStart = true // a new node may begin here (after an indicator or at the start)
    let afterQuote = false // the last thing read was a quoted scalar (a JSON-like key)
    let blockScalar = false // the line ends in a block scalar header (`key: |`, `- >-`)
    for (; p < lineEnd; p++) {
      const c = text.charCodeAt(p)
      if (quote === DOUBLE) {
        if (c === BACKSLASH) p++
        else if (c === DOUBLE) { quote = 0; nodeStart = false; afterQuote = true }
        continue
      }
      if (quote === SINGLE) {
        if (c === SINGLE) {
          if (text.charCodeAt(p + 1) === SINGLE) p++
          else { quote = 0; nodeStart = false; afterQuote = true }
        }
        continue
      }
      if (isBlank(c)) continue
      const quoteEnded = afterQuote
      afterQuote = false
      if (c === HASH && (p === i || isBlank(text.charCodeAt(p - 1)))) break
      if (nodeStart && (c === DOUBLE || c === SINGLE)) { quote = c; continue }
      if ((c === OPEN_SQUARE || c === OPEN_CURLY) && (nodeStart || flow > 0)) {
        flow++
        if (depth + flow > max) return { line, depth: depth + flow }
        nodeStart = true
      } else if ((c === CLOSE_SQUARE || c === CLOSE_CURLY) && flow > 0) {
        flow--
        nodeStart = false
      } else if (c === COMMA && flow > 0) {
        nodeStart = true
      } else if ((c === COLON || c === DASH || c === QUESTION) && startsNode(c, text.charCodeAt(p + 1), flow, quoteEnded)) {
        nodeStart = true
      } else if ((c === PIPE || c === GREATER) && nodeStart && flow === 0) {
        blockScalar = true
        break
      } else {
        nodeStart = false
      }
    }
    if (blockScalar) blockScalarIndent = col
    i = skipBreak(text, lineEnd)
  }
  return undefined
}

function nextBreak (text: string, from: number): number {
  const lf = text.indexOf('\n', from)
  const end = lf === -1 ? text.length : lf
  return end > from && text.charCodeAt(end - 1) === CR ? end - 1 : end
}

function skipBreak (text: string, at: number): number {
  if (text.charCodeAt(at) === CR) at++
  if (text.charCodeAt(at) === LF) at++
  return at
}
