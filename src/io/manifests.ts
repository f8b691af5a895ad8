// Kubernetes manifests from files, directories and stdin, as kubectl reads them: multi-document
// YAML (YAML 1.1: `yes` is a boolean; timestamps stay strings) or JSON. Each document keeps
// its source text and parsed Document, so that `inject` can edit it in place (yaml-edit.ts).
//
// Work is bounded per document and per stream, not per run (kubectl reads any number of
// files): hostile input is refused with one line, before it can use much memory or time: a
// file or stdin over MAX_STREAM_BYTES, a document over MAX_DOCUMENT_BYTES or about
// MAX_NODES nodes, a NUL byte (binary data, refused in the chunk that has it), nesting
// deeper than MAX_DEPTH, more than MAX_ALIAS_COUNT alias expansions (alias bombs). yaml's
// parse costs up to ~1.5 KiB of memory per node (a flow sequence of one-digit items), and
// documents are parsed one at a time, so the node count of one document, not the byte
// count, is what bounds the parse's memory; duplicate keys are found in one pass (yaml's own
// check is quadratic in the keys of a mapping).
import { open, readdir, stat } from 'node:fs/promises'
import { extname, join } from 'node:path'
import type { Readable } from 'node:stream'

import { Composer, type Document, isScalar, LineCounter, Parser, type Tags, visit } from 'yaml'

import { yamlTooDeep } from '../core/text/yaml-nesting.ts'
import { cliError, EgressMtlsError } from '../errors.ts'
import { describeFileError } from './file-errors.ts'
import type { EditContext } from './yaml-edit.ts'

/** One file, or stdin (kube-prometheus built into one stream is ~6 MiB). */
export const MAX_STREAM_BYTES = 32 * 1024 * 1024
/** One document (kube-apiserver refuses a request over 3 MiB; the largest CRDs are ~1 MiB). */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
/** Lines, flow items and flow collections of one document (Istio's whole CRD bundle has ~18,000 lines). */
export const MAX_NODES = 100_000
/** Nesting of mappings and sequences (a CRD schema goes to ~40; yaml's parser overflows its stack near 800). */
export const MAX_DEPTH = 256
/** Alias expansions per document. */
export const MAX_ALIAS_COUNT = 100

const MIB = 1024 * 1024

export interface Input {
  /** The file name, or "stdin". */
  readonly source: string
  readonly text: string
}

/** Manifest files of a directory: kubectl's extensions. */
const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json'])

/**
 * The inputs named by `-f` (files, directories, `-` for stdin), in order; a directory gives
 * its manifest files sorted by name (and those of its subdirectories with `recursive`).
 */
export async function readInputs (
  paths: readonly string[], recursive: boolean, stdin: Readable, limit = MAX_STREAM_BYTES,
): Promise<Input[]> {
  const inputs: Input[] = []
  if (paths.filter((p) => p === '-').length > 1) throw cliError('EMTLS_CLI_STDIN_TWICE')
  for (const path of paths) {
    if (path === '-') { inputs.push(await readStdin(stdin, limit)); continue }
    for (const file of await expand(path, recursive, true)) inputs.push(await readFileBounded(file, limit))
  }
  return inputs
}

async function expand (path: string, recursive: boolean, top: boolean): Promise<string[]> {
  let info
  try {
    info = await stat(path)
  } catch (err) {
    throw cliError('EMTLS_CLI_INPUT_UNREADABLE', path, describeFileError(err))
  }
  if (!info.isDirectory()) return [path]
  if (!top && !recursive) return []
  let names: string[]
  try {
    names = (await readdir(path)).sort()
  } catch (err) {
    throw cliError('EMTLS_CLI_DIRECTORY_UNREADABLE', path, describeFileError(err))
  }
  const files: string[] = []
  for (const name of names) {
    const child = join(path, name)
    let childInfo
    try { childInfo = await stat(child) } catch (err) { throw cliError('EMTLS_CLI_INPUT_UNREADABLE', child, describeFileError(err)) }
    if (childInfo.isDirectory()) {
      if (recursive) files.push(...await expand(child, recursive, false))
    } else if (MANIFEST_EXTENSIONS.has(extname(name).toLowerCase())) {
      files.push(child)
    }
  }
  return files
}

const tooLarge = (source: string, limit: number): Error =>
  cliError('EMTLS_CLI_INPUT_TOO_LARGE', source, limit / MIB)

/** Bytes read so far, and the lines they end (for where a NUL byte is). */
interface Read { chunks: Buffer[], total: number, lines: number }

/** Takes a chunk: refused when it holds a NUL byte or makes the input too large, so nothing beyond is read. */
function take (source: string, read: Read, chunk: Buffer, limit: number): void {
  const nul = chunk.indexOf(0)
  if (nul !== -1) throw cliError('EMTLS_CLI_INPUT_BINARY', source, read.lines + chunk.subarray(0, nul).toString('latin1').split('\n').length)
  read.total += chunk.length
  if (read.total > limit) throw tooLarge(source, limit)
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) read.lines++
  read.chunks.push(chunk)
}

async function readFileBounded (path: string, limit: number): Promise<Input> {
  let handle
  try {
    handle = await open(path, 'r')
  } catch (err) {
    throw cliError('EMTLS_CLI_INPUT_UNREADABLE', path, describeFileError(err))
  }
  try {
    const read: Read = { chunks: [], total: 0, lines: 0 }
    for (;;) {
      const buffer = Buffer.allocUnsafe(64 * 1024)
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null)
      if (bytesRead === 0) break
      take(path, read, buffer.subarray(0, bytesRead), limit)
    }
    return { source: path, text: Buffer.concat(read.chunks).toString('utf8') }
  } catch (err) {
    if (err instanceof EgressMtlsError) throw err
    throw cliError('EMTLS_CLI_INPUT_UNREADABLE', path, describeFileError(err))
  } finally {
    await handle.close()
  }
}

async function readStdin (stdin: Readable, limit: number): Promise<Input> {
  const read: Read = { chunks: [], total: 0, lines: 0 }
  for await (const chunk of stdin) {
    try {
      take('stdin', read, typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Buffer, limit)
    } catch (err) {
      stdin.destroy()
      throw err
    }
  }
  return { source: 'stdin', text: Buffer.concat(read.chunks).toString('utf8') }
}

/** One document of an input: its text span and, unless it is empty, its value. */
export interface ManifestDocument {
  /** Offsets of the document's text (from its `---` on) in the input's text. */
  readonly start: number
  readonly end: number
  /** Undefined for JSON that only JSON.parse reads. */
  readonly doc?: Document.Parsed
  /** null for an empty document (only comments). */
  readonly value: unknown
}

export interface Manifest {
  readonly input: Input
  readonly json: boolean
  /**
   * The documents, parsed one at a time as they are asked for, so that a caller who is done
   * with one lets it go (a Document costs ~1.5 KiB a node; 200,000 empty documents would
   * otherwise be held at once). Spans cover the text exactly, in order.
   */
  documents: () => Generator<ManifestDocument>
}

const withoutTimestamps = (tags: Tags): Tags => tags.filter((t) => typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:timestamp')

/** How manifests are parsed and converted: int64 numbers read exactly (BigInt). */
export const YAML_CONTEXT: EditContext = {
  parse: { version: '1.1', customTags: withoutTimestamps, intAsBigInt: true, prettyErrors: false, uniqueKeys: false },
  toJS: { maxAliasCount: MAX_ALIAS_COUNT },
}

/** The documents of YAML streams or JSON texts. */
export function parseManifests (inputs: readonly Input[]): Manifest[] {
  return inputs.map((i) => parseManifest(i))
}

/** The documents of a YAML stream or of JSON text. */
export function parseManifest (input: Input): Manifest {
  const { source, text } = input
  const trimmed = text.trimStart()
  let json = false
  scan(source, text)
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      JSON.parse(text)
      json = true
    } catch {
      // Not JSON after all (a YAML flow mapping, or broken): the YAML parser says where.
    }
  }
  return { input, json, documents: () => documents(input, json) }
}

function * documents ({ source, text }: Input, json: boolean): Generator<ManifestDocument> {
  const lineCounter = new LineCounter()
  const composer = new Composer(YAML_CONTEXT.parse)
  let previous: { doc: Document.Parsed, value: unknown, start: number } | undefined
  for (const doc of composer.compose(new Parser(lineCounter.addNewLine).parse(text))) {
    const error = doc.errors[0]
    if (error !== undefined) {
      // JSON the YAML parser does not take (it is stricter about some escapes): read as JSON,
      // written back as JSON when changed
      if (json) { yield { start: 0, end: text.length, value: JSON.parse(text) as unknown }; return }
      const line = lineCounter.linePos(error.pos[0]).line
      if (error.message.includes('call stack')) throw cliError('EMTLS_CLI_INPUT_TOO_DEEP', source, line)
      throw cliError('EMTLS_CLI_INPUT_SYNTAX', source, line, error.message.split('\n')[0] ?? error.message)
    }
    const duplicate = duplicateKey(doc)
    if (duplicate !== undefined) throw cliError('EMTLS_CLI_INPUT_DUPLICATE_KEY', source, lineCounter.linePos(duplicate.at).line, duplicate.key)
    let value: unknown
    try {
      value = doc.toJS(YAML_CONTEXT.toJS)
    } catch (err) {
      const line = lineCounter.linePos(doc.range[0]).line
      if (err instanceof ReferenceError) throw cliError('EMTLS_CLI_INPUT_ALIASES', source, line, MAX_ALIAS_COUNT)
      throw cliError('EMTLS_CLI_INPUT_SYNTAX', source, line, err instanceof Error ? err.message : String(err))
    }
    if (previous !== undefined) {
      yield { start: previous.start, end: doc.range[0], doc: previous.doc, value: previous.value ?? null }
      previous = { doc, value, start: doc.range[0] }
    } else {
      previous = { doc, value, start: 0 }
    }
  }
  if (previous !== undefined) yield { start: previous.start, end: text.length, doc: previous.doc, value: previous.value ?? null }
  else if (text !== '') yield { start: 0, end: text.length, value: null }
}

/** A quote after these starts a quoted scalar (in `don't` it does not). */
const QUOTE_AFTER = new Set([' ', '\t', ':', '[', '{', ',', '\n', '-'])

/** `---` at the start of a line, then a space, a tab, a line end or the end: a new document. */
function documentStart (text: string, i: number): boolean {
  if (!(i === 0 || text.charCodeAt(i - 1) === 10) || !text.startsWith('---', i)) return false
  const next = text.charCodeAt(i + 3)
  return Number.isNaN(next) || next === 32 || next === 9 || next === 10 || next === 13
}

/**
 * Refuses nesting deeper than MAX_DEPTH before the parser sees it (the parser recurses and
 * takes seconds to give up on 20,000 levels; yamlTooDeep never underestimates the depth),
 * and a document of more than MAX_NODES nodes (counted as lines, items, commas and
 * brackets) or MAX_DOCUMENT_BYTES, naming the line where that document starts.
 */
function scan (source: string, text: string): void {
  const deep = yamlTooDeep(text, MAX_DEPTH)
  if (deep !== undefined) throw cliError('EMTLS_CLI_INPUT_TOO_DEEP', source, deep.line, MAX_DEPTH)
  let flow = 0
  let line = 1
  let lineStart = true
  let quote = ''
  let nodes = 0
  let docStart = 0
  let docLine = 1
  const tooMany = (): Error => cliError('EMTLS_CLI_INPUT_TOO_MANY_NODES', source, docLine, MAX_NODES)
  /** The document that ends at `end` within MAX_DOCUMENT_BYTES (a UTF-16 unit is at least a byte, at most three). */
  const checkSize = (end: number): void => {
    const units = end - docStart
    if (units * 3 <= MAX_DOCUMENT_BYTES) return
    if (units > MAX_DOCUMENT_BYTES || Buffer.byteLength(text.slice(docStart, end)) > MAX_DOCUMENT_BYTES) {
      throw cliError('EMTLS_CLI_DOCUMENT_TOO_LARGE', source, docLine, MAX_DOCUMENT_BYTES / MIB)
    }
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 10) {
      line++; lineStart = true
      if (++nodes > MAX_NODES) throw tooMany()
      continue
    }
    if (quote !== '') {
      if (c === 92 && quote === '"') i++
      else if (text[i] === quote) quote = ''
      continue
    }
    if (lineStart) {
      if (c === 45 && flow === 0 && documentStart(text, i)) {
        checkSize(i)
        docStart = i; docLine = line; nodes = 0
      }
      if (c === 32) continue
      if (c === 45 && text.charCodeAt(i + 1) === 32) { i++; nodes++; continue }
      lineStart = false
    }
    if (c === 91 || c === 123) { flow++; nodes++ } else if ((c === 93 || c === 125) && flow > 0) flow--
    else if (c === 44) nodes++
    else if ((c === 34 || c === 39) && QUOTE_AFTER.has(text[i - 1] ?? ' ')) quote = text[i] ?? ''
    else if (c === 35 && flow === 0) { const nl = text.indexOf('\n', i); i = nl === -1 ? text.length : nl - 1 }
    if (nodes > MAX_NODES) throw tooMany()
  }
  checkSize(text.length)
}

/** The first key that repeats in a mapping, in one pass (yaml's uniqueKeys check is quadratic). */
function duplicateKey (doc: Document.Parsed): { key: string, at: number } | undefined {
  let found: { key: string, at: number } | undefined
  visit(doc, {
    Map (_key, map) {
      const seen = new Set<string>()
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined
        if (key === undefined) continue
        if (seen.has(key)) {
          found = { key, at: isScalar(pair.key) ? pair.key.range?.[0] ?? 0 : 0 }
          return visit.BREAK
        }
        seen.add(key)
      }
      return undefined
    },
  })
  return found
}
