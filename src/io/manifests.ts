// Kubernetes manifests from files, directories and stdin, as kubectl reads them: multi-document
// YAML (YAML 1.1: `yes` is a boolean; timestamps stay strings) or JSON. Each document keeps
// its source text and parsed Document, so that `inject` can edit it in place (yaml-edit.ts).
//
// Hostile input is refused with one line, before it can use much memory or time: more than
// MAX_INPUT_BYTES in all, a NUL byte (binary data), nesting deeper than MAX_DEPTH, more than
// MAX_ALIAS_COUNT alias expansions (alias bombs).
import { open, readdir, stat } from 'node:fs/promises'
import { extname, join } from 'node:path'
import type { Readable } from 'node:stream'
import { LineCounter, parseAllDocuments, type Document, type Tags } from 'yaml'
import { inputError, usageError } from '../errors.ts'
import { describeFsError } from './fs-errors.ts'
import type { EditContext } from './yaml-edit.ts'

/** All inputs of one command together (a large CRD bundle is a few MiB). */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024
/** Nesting of mappings and sequences; a Kubernetes object rarely goes past 20. */
export const MAX_DEPTH = 1000
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
export async function readInputs (paths: readonly string[], recursive: boolean, stdin: Readable, limit = MAX_INPUT_BYTES): Promise<Input[]> {
  const inputs: Input[] = []
  let budget = limit
  const add = (input: Input): void => {
    budget -= Buffer.byteLength(input.text)
    inputs.push(input)
  }
  if (paths.filter((p) => p === '-').length > 1) throw usageError('-f - (stdin) can be given only once')
  for (const path of paths) {
    if (path === '-') { add(await readStdin(stdin, budget, limit)); continue }
    for (const file of await expand(path, recursive, true)) add(await readFileBounded(file, budget, limit))
  }
  return inputs
}

async function expand (path: string, recursive: boolean, top: boolean): Promise<string[]> {
  let info
  try {
    info = await stat(path)
  } catch (err) {
    throw inputError(path, `cannot read: ${describeFsError(err)}`)
  }
  if (!info.isDirectory()) return [path]
  if (!top && !recursive) return []
  let names: string[]
  try {
    names = (await readdir(path)).sort()
  } catch (err) {
    throw inputError(path, `cannot read the directory: ${describeFsError(err)}`)
  }
  const files: string[] = []
  for (const name of names) {
    const child = join(path, name)
    let childInfo
    try { childInfo = await stat(child) } catch (err) { throw inputError(child, `cannot read: ${describeFsError(err)}`) }
    if (childInfo.isDirectory()) {
      if (recursive) files.push(...await expand(child, recursive, false))
    } else if (MANIFEST_EXTENSIONS.has(extname(name).toLowerCase())) {
      files.push(child)
    }
  }
  return files
}

const tooLarge = (source: string, limit: number): Error =>
  inputError(source, `too large: the manifests given together may be at most ${limit / MIB} MiB`)

async function readFileBounded (path: string, budget: number, limit: number): Promise<Input> {
  let handle
  try {
    handle = await open(path, 'r')
  } catch (err) {
    throw inputError(path, `cannot read: ${describeFsError(err)}`)
  }
  try {
    const chunks: Buffer[] = []
    let total = 0
    for (;;) {
      const buffer = Buffer.allocUnsafe(64 * 1024)
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null)
      if (bytesRead === 0) break
      total += bytesRead
      if (total > budget) throw tooLarge(path, limit)
      chunks.push(buffer.subarray(0, bytesRead))
    }
    return { source: path, text: decode(path, Buffer.concat(chunks)) }
  } catch (err) {
    if (err instanceof Error && err.name === 'EgressMtlsError') throw err
    throw inputError(path, `cannot read: ${describeFsError(err)}`)
  } finally {
    await handle.close()
  }
}

async function readStdin (stdin: Readable, budget: number, limit: number): Promise<Input> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Buffer
    total += buffer.length
    if (total > budget) {
      stdin.destroy()
      throw tooLarge('stdin', limit)
    }
    chunks.push(buffer)
  }
  return { source: 'stdin', text: decode('stdin', Buffer.concat(chunks)) }
}

function decode (source: string, bytes: Buffer): string {
  const nul = bytes.indexOf(0)
  if (nul !== -1) {
    const line = bytes.subarray(0, nul).toString('latin1').split('\n').length
    throw inputError(source, 'binary data, not YAML or JSON (a NUL byte)', line)
  }
  return bytes.toString('utf8')
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
  readonly documents: readonly ManifestDocument[]
}

const withoutTimestamps = (tags: Tags): Tags => tags.filter((t) => typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:timestamp')

/** How manifests are parsed and converted: int64 numbers read exactly (BigInt). */
export const YAML_CONTEXT: EditContext = {
  parse: { version: '1.1', customTags: withoutTimestamps, intAsBigInt: true, prettyErrors: false },
  toJS: { maxAliasCount: MAX_ALIAS_COUNT },
}

/** The documents of a YAML stream or of JSON text. */
export function parseManifest (input: Input): Manifest {
  const { source, text } = input
  const trimmed = text.trimStart()
  let json = false
  let jsonValue: unknown
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    checkDepth(source, text)
    try {
      jsonValue = JSON.parse(text)
      json = true
    } catch {
      // Not JSON after all (a YAML flow mapping, or broken): the YAML parser says where.
    }
  }
  if (!json) checkDepth(source, text)
  const lineCounter = new LineCounter()
  const docs = parseAllDocuments(text, { ...YAML_CONTEXT.parse, lineCounter })
  const documents: ManifestDocument[] = []
  const list = Array.isArray(docs) ? docs : []
  for (const [i, doc] of list.entries()) {
    const error = doc.errors[0]
    if (error !== undefined) {
      if (json) return { input, json, documents: [{ start: 0, end: text.length, value: jsonValue }] }
      const line = lineCounter.linePos(error.pos[0]).line
      if (error.message.includes('call stack')) throw inputError(source, 'nested too deeply', line)
      throw inputError(source, error.message.split('\n')[0] ?? error.message, line)
    }
    let value: unknown
    try {
      value = doc.toJS(YAML_CONTEXT.toJS)
    } catch (err) {
      const line = lineCounter.linePos(doc.range[0]).line
      if (err instanceof ReferenceError) throw inputError(source, `more than ${MAX_ALIAS_COUNT} alias expansions (an alias bomb?)`, line)
      throw inputError(source, err instanceof Error ? err.message : String(err), line)
    }
    const start = i === 0 ? 0 : doc.range[0]
    const end = list[i + 1]?.range[0] ?? text.length
    documents.push({ start, end, doc, value: value ?? null })
  }
  return { input, json, documents }
}

/**
 * Refuses nesting deeper than MAX_DEPTH before the parser sees it (the parser recurses and
 * takes seconds to give up on 20,000 levels). Counts flow brackets and, per line, the block
 * indentation and `- ` markers: an upper bound of the real depth, exact enough for this.
 */
/** A quote after these starts a quoted scalar (in `don't` it does not). */
const QUOTE_AFTER = new Set([' ', '\t', ':', '[', '{', ',', '\n', '-'])

function checkDepth (source: string, text: string): void {
  let flow = 0
  let line = 1
  let lineStart = true
  let block = 0
  let quote = ''
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 10) { line++; lineStart = true; block = 0; continue }
    if (quote !== '') {
      if (c === 92 && quote === '"') i++
      else if (text[i] === quote) quote = ''
      continue
    }
    if (lineStart) {
      if (c === 32) { block++; continue }
      if (c === 45 && text.charCodeAt(i + 1) === 32) { block += 2; i++; continue }
      lineStart = false
    }
    if (c === 91 || c === 123) flow++
    else if ((c === 93 || c === 125) && flow > 0) flow--
    else if ((c === 34 || c === 39) && QUOTE_AFTER.has(text[i - 1] ?? ' ')) quote = text[i] ?? ''
    else if (c === 35 && flow === 0) { const nl = text.indexOf('\n', i); i = nl === -1 ? text.length : nl - 1 }
    if (flow + block / 2 > MAX_DEPTH) throw inputError(source, `nested more than ${MAX_DEPTH} levels deep`, line)
  }
}
