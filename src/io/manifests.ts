// Kubernetes manifests in and out of files: multi-document YAML or JSON from a file or stdin,
// YAML documents out. YAML is read and written as kubectl reads it (YAML 1.1: `yes` is a
// boolean, so a string "yes" is written quoted), except that timestamps stay strings.
import { readFile } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { Document, LineCounter, parseAllDocuments, type Tags } from 'yaml'
import { inputError } from '../errors.ts'

export interface Input {
  /** The file name, or "stdin". */
  readonly source: string
  readonly text: string
}

/** The text of a file, or of stdin for "-". */
export async function readInput (path: string, stdin: Readable): Promise<Input> {
  if (path === '-') {
    const chunks: Buffer[] = []
    for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Buffer)
    return { source: 'stdin', text: Buffer.concat(chunks).toString('utf8') }
  }
  try {
    return { source: path, text: await readFile(path, 'utf8') }
  } catch (err) {
    throw inputError(path, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
}

const withoutTimestamps = (tags: Tags): Tags => tags.filter((t) => typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:timestamp')

/** The documents of a YAML stream or JSON text, empty documents left out. */
export function parseManifests ({ source, text }: Input): unknown[] {
  const trimmed = text.trimStart()
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return [JSON.parse(text)]
    } catch {
      // Not JSON after all (a YAML flow mapping, or broken): the YAML parser says where.
    }
  }
  const lineCounter = new LineCounter()
  const docs = parseAllDocuments(text, { version: '1.1', customTags: withoutTimestamps, lineCounter, prettyErrors: false })
  const values: unknown[] = []
  for (const doc of docs) {
    const error = doc.errors[0]
    if (error !== undefined) throw inputError(source, error.message.split('\n')[0] ?? error.message, lineCounter.linePos(error.pos[0]).line)
    const value: unknown = doc.toJS({ maxAliasCount: 100 })
    if (value !== null && value !== undefined) values.push(value)
  }
  return values
}

/** YAML documents separated by `---`. */
export function stringifyManifests (values: readonly unknown[]): string {
  return values.map((v) => new Document(v, { version: '1.1' }).toString({ lineWidth: 0 })).join('---\n')
}
