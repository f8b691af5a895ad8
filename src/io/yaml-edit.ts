// Edits of a parsed YAML (or JSON) document, made on its source text so that everything the
// edit does not touch keeps its bytes: comments, quoting, indentation, key order, `0644`,
// int64 numbers. The operations are JSON Patch add/replace/remove of mapping keys, as
// admit() returns them; the Document API (node ranges) says where each one goes, yaml's
// own stringifier writes the new keys and values. Each result is checked by parsing it
// again: when it does not read back as the patched value (or a case is not handled as
// text), the document is edited through the Document API and printed whole instead.
import { isDeepStrictEqual } from 'node:util'

import {
  Document, type DocumentOptions, isAlias, isMap, isScalar, isSeq, type Node, type Pair, parseAllDocuments,
  type ParseOptions, Scalar, type SchemaOptions, type ToJSOptions, visit,
  type YAMLMap,
} from 'yaml'

import { stringifyJson } from '../core/base/json.ts'
import { writeDocument } from '../core/text/document.ts'

export interface EditOperation {
  readonly op: 'add' | 'replace' | 'remove'
  /** Keys (and sequence indexes) from the document's root. */
  readonly path: readonly string[]
  readonly value?: unknown
}

export type YamlOptions = ParseOptions & DocumentOptions & SchemaOptions
export interface EditContext {
  readonly parse: YamlOptions
  readonly toJS: ToJSOptions
}

interface Splice {
  readonly at: number
  readonly remove: number
  readonly insert: string
  /** Inserts at one place: the deeper key (an inner mapping's last line) goes first. */
  readonly depth?: number
}

/**
 * The text of one document (`text`, whose parse is `doc`) after `ops`; `expected` is the
 * value the result must read back as. `json`: the document is JSON and stays JSON.
 * `notice` hears when the document could not be edited in place, nor printed anew by the
 * Document API (which keeps comments), and was re-serialized from its value: comments,
 * quoting and layout lost (YAML aliases on the edited path do this).
 */
export function editDocument (
  text: string,
  doc: Document.Parsed,
  offset: number,
  ops: readonly EditOperation[],
  expected: unknown,
  json: boolean,
  ctx: EditContext,
  notice: () => void = () => undefined,
): string {
  if (ops.length === 0) return text
  const splices = spliceOps(text, doc, offset, fold(ops), json)
  if (splices !== undefined) {
    const edited = applySplices(text, splices)
    if (readsAs(edited, expected, ctx)) return edited
  }
  return rewrite(text, doc, ops, expected, json, ctx, notice)
}

/** The document as the Document API prints it after the edit (comments kept), else re-serialized. */
function rewrite (
  text: string, doc: Document.Parsed, ops: readonly EditOperation[], expected: unknown, json: boolean, ctx: EditContext,
  notice: () => void,
): string {
  const trailing = /\n*$/.exec(text)?.[0] ?? ''
  const whole = (body: string): string => `${text.startsWith('---') && !body.startsWith('---') ? '---\n' : ''}${body.replace(/\n*$/, '')}${trailing === '' ? '' : trailing}`
  if (json) return whole(stringifyJson(expected, jsonIndent(text)))
  try {
    const copy = doc.clone()
    for (const op of ops) {
      if (op.op === 'remove') copy.deleteIn(op.path)
      else copy.setIn(op.path, copy.createNode(op.value))
    }
    const printed = whole(copy.toString({ lineWidth: 0 }))
    if (readsAs(printed, expected, ctx)) return printed
  } catch {
    // an alias or an odd shape on the way: printed from the value below
  }
  notice()
  return whole(writeDocument('yaml', expected))
}

/** The indentation of a JSON text: that of its first indented line (2 when it has none). */
function jsonIndent (text: string): string {
  const m = /\n([ \t]+)\S/.exec(text)
  return m?.[1] ?? '  '
}

function readsAs (text: string, expected: unknown, ctx: EditContext): boolean {
  const docs = parseAllDocuments(text, ctx.parse)
  if (!Array.isArray(docs)) return false
  const values = docs.filter((d) => d.errors.length === 0).map((d): unknown => d.toJS(ctx.toJS))
  return docs.every((d) => d.errors.length === 0) && values.length === 1 && isDeepStrictEqual(values[0], expected)
}

function applySplices (text: string, splices: readonly Splice[]): string {
  let out = text
  // From the end, so that earlier offsets stay right; inserts at one place deepest first,
  // then in their order.
  const order = splices.map((s, i) => ({ s, i })).sort((a, b) => b.s.at - a.s.at || (a.s.depth ?? 0) - (b.s.depth ?? 0) || b.i - a.i)
  for (const { s } of order) out = out.slice(0, s.at) + s.insert + out.slice(s.at + s.remove)
  return out
}

/** Adds of `{}` followed by adds under it become one add of the whole value. */
function fold (ops: readonly EditOperation[]): EditOperation[] {
  const out: { op: EditOperation['op'], path: readonly string[], value?: unknown }[] = []
  for (const op of ops) {
    const parent = out.find((o) => o.op !== 'remove' && isPlainObject(o.value) && o.path.length < op.path.length && o.path.every((s, i) => s === op.path[i]))
    if (parent === undefined) {
      out.push(op.value === undefined ? { op: op.op, path: op.path } : { op: op.op, path: op.path, value: structuredClone(op.value) })
      continue
    }
    let target = parent.value as Record<string, unknown>
    const rest = op.path.slice(parent.path.length)
    for (const key of rest.slice(0, -1)) {
      const next = target[key]
      if (!isPlainObject(next)) return [...ops]
      target = next
    }
    const last = rest.at(-1) ?? ''
    if (op.op === 'remove') Reflect.deleteProperty(target, last)
    else target[last] = structuredClone(op.value)
  }
  return out
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The splices for `ops`, or undefined when one of them is not a case handled as text. */
function spliceOps (
  text: string, doc: Document.Parsed, offset: number, ops: readonly EditOperation[], json: boolean,
): Splice[] | undefined {
  const splices: Splice[] = []
  for (const op of ops) {
    const parent = nodeAt(doc.contents, op.path.slice(0, -1))
    const key = op.path.at(-1)
    if (parent === undefined || !isMap(parent) || key === undefined) return undefined
    const s = spliceOne(text, offset, parent, key, op, json)
    if (s === undefined) return undefined
    splices.push({ ...s, depth: op.path.length })
  }
  // Inserts at one place keep their order; a removal or replacement overlapping anything is
  // not made as text.
  const sorted = [...splices].sort((a, b) => a.at - b.at)
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]
    const cur = sorted[i]
    if (prev === undefined || cur === undefined) continue
    if (prev.at + prev.remove > cur.at || (prev.at === cur.at && (prev.remove > 0 || cur.remove > 0))) return undefined
  }
  return splices
}

function nodeAt (root: unknown, path: readonly string[]): Node | undefined {
  let node: unknown = root
  for (const segment of path) {
    if (isMap(node)) node = pairOf(node, segment)?.value
    else if (isSeq(node)) node = node.items[Number(segment)]
    else return undefined
    if (isAlias(node)) return undefined
  }
  return node as Node | undefined
}

function pairOf (map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((p) => isScalar(p.key) && String(p.key.value) === key)
}

const rangeOf = (node: unknown): readonly [number, number, number] | undefined =>
  typeof node === 'object' && node !== null && 'range' in node && Array.isArray(node.range) ? node.range as [number, number, number] : undefined

function spliceOne (text: string, offset: number, map: YAMLMap, key: string, op: EditOperation, json: boolean): Splice | undefined {
  const pair = pairOf(map, key)
  const mapRange = rangeOf(map)
  if (mapRange === undefined) return undefined
  const local = (n: number): number => n - offset
  if (op.op === 'remove') return pair === undefined ? undefined : removal(text, local, map, pair)
  if (pair !== undefined) {
    // replace a scalar's text, keeping its quoting where the value allows it
    const value = pair.value
    const r = rangeOf(value)
    if (!isScalar(value) || r === undefined || typeof op.value !== 'string') return undefined
    const type = value.type
    if (type !== Scalar.PLAIN && type !== Scalar.QUOTE_SINGLE && type !== Scalar.QUOTE_DOUBLE) return undefined
    const rendered = json ? JSON.stringify(op.value) : renderScalar(op.value, type)
    if (rendered === undefined) return undefined
    return { at: local(r[0]), remove: r[1] - r[0], insert: rendered }
  }
  const last = map.items.at(-1)
  if (map.flow === true) {
    const open = local(mapRange[0])
    const rendered = json ? `${JSON.stringify(key)}: ${JSON.stringify(op.value)}` : renderFlowPair(key, op.value)
    if (last === undefined) {
      if (text[open] !== '{') return undefined
      return { at: open + 1, remove: 0, insert: json ? rendered : ` ${rendered} ` }
    }
    const end = rangeOf(last.value ?? last.key)
    const keyRange = rangeOf(last.key)
    if (end === undefined || keyRange === undefined) return undefined
    if (!text.slice(open, local(end[1])).includes('\n')) return { at: local(end[1]), remove: 0, insert: `, ${rendered}` }
    // one key a line: the new one too, at the same column (tabs kept), pretty-printed when
    // JSON with the file's own indentation
    const keyAt = local(keyRange[0])
    const before = text.slice(lineStart(text, keyAt), keyAt)
    const pad = /^[ \t]*$/.test(before) ? before : ' '.repeat(column(text, keyAt))
    const pretty = json ? `${JSON.stringify(key)}: ${JSON.stringify(op.value, null, jsonIndent(text)).replace(/\n/g, `\n${pad}`)}` : rendered
    return { at: local(end[1]), remove: 0, insert: `,\n${pad}${pretty}` }
  }
  const first = map.items[0]
  const firstKey = rangeOf(first?.key)
  const end = rangeOf(last?.value ?? last?.key)
  if (firstKey === undefined || end === undefined || json) return undefined
  const col = column(text, local(firstKey[0]))
  const at = lineEnd(text, local(end[1]))
  const lines = renderBlockPair(key, op.value, col)
  return { at, remove: 0, insert: at === text.length && !text.endsWith('\n') ? `\n${lines}` : lines }
}

function removal (text: string, local: (n: number) => number, map: YAMLMap, pair: Pair): Splice | undefined {
  const index = map.items.indexOf(pair)
  const keyRange = rangeOf(pair.key)
  const end = rangeOf(pair.value ?? pair.key)
  if (keyRange === undefined || end === undefined || map.items.length < 2) return undefined
  if (map.flow === true) {
    if (index > 0) {
      const prevEnd = rangeOf(map.items[index - 1]?.value ?? map.items[index - 1]?.key)
      if (prevEnd === undefined) return undefined
      return { at: local(prevEnd[1]), remove: local(end[1]) - local(prevEnd[1]), insert: '' }
    }
    const next = rangeOf(map.items[1]?.key)
    if (next === undefined) return undefined
    return { at: local(keyRange[0]), remove: local(next[0]) - local(keyRange[0]), insert: '' }
  }
  const start = lineStart(text, local(keyRange[0]))
  if (text.slice(start, local(keyRange[0])).trim() !== '') return undefined // `- key: value`: not a line of its own
  return { at: start, remove: lineEnd(text, local(end[1])) - start, insert: '' }
}

const column = (text: string, at: number): number => at - lineStart(text, at)
const lineStart = (text: string, at: number): number => text.lastIndexOf('\n', at - 1) + 1

function lineEnd (text: string, at: number): number {
  if (at > 0 && text[at - 1] === '\n') return at
  const nl = text.indexOf('\n', at)
  return nl === -1 ? text.length : nl + 1
}

const PRINT = { lineWidth: 0 } as const

function renderScalar (value: string, type: Scalar.Type): string | undefined {
  const node = new Scalar(value)
  node.type = type
  const out = new Document(node, { version: '1.1' }).toString(PRINT).replace(/\n$/, '')
  return out.includes('\n') ? undefined : out
}

function renderFlowPair (key: string, value: unknown): string {
  const doc = new Document({ [key]: value }, { version: '1.1' })
  visit(doc, { Map: (_k, m) => { m.flow = true }, Seq: (_k, s) => { s.flow = true } })
  return doc.toString(PRINT).trim().replace(/^\{\s*/, '').replace(/\s*\}$/, '')
}

function renderBlockPair (key: string, value: unknown, col: number): string {
  const pad = ' '.repeat(col)
  return new Document({ [key]: value }, { version: '1.1' }).toString(PRINT).replace(/^(?=.)/gm, pad)
}
