// egress-mtls inject: the webhook's mutation on manifests, offline. Each document (and each
// item of a List) goes through the same admit() as an AdmissionReview CREATE would
// (core/admission/inject.ts), and the document's JSON Patch is applied to its text
// (src/io/yaml-edit.ts): a document with nothing to inject comes out byte for byte as it
// came in, an injected one differs only by the keys we add, change or remove. YAML in gives
// YAML out, JSON in gives JSON out, unless -o says otherwise. Warnings go to stderr; a
// denial prints its message, no manifests, and exits 1.
import { type Document, visit as visitYaml } from 'yaml'

import { applyPatch } from '../core/admission/apply-patch.ts'
import { admitDocument } from '../core/admission/inject.ts'
import { pointerTokens } from '../core/base/json.ts'
import type { Config } from '../core/config/config.ts'
import type { DocumentFormat } from '../core/text/document.ts'
import { cliError } from '../errors.ts'
import { type Manifest, parseManifests, readInputs, YAML_CONTEXT } from '../io/manifests.ts'
import { editDocument, type EditOperation } from '../io/yaml-edit.ts'
import { loadConfiguration } from './configuration.ts'
import type { InjectOptions, Io } from './options.ts'
import { formatObjects } from './output.ts'

export async function run (options: InjectOptions, io: Io): Promise<number> {
  const paths = options.filename ?? []
  if (paths.length === 0 && (io.stdin as { isTTY?: boolean }).isTTY === true) {
    throw cliError('EMTLS_CLI_NO_MANIFESTS')
  }
  const config = await loadConfiguration(options, io)
  const manifests = parseManifests(await readInputs(paths.length === 0 ? ['-'] : paths, options.recursive === true, io.stdin))
  const denials: string[] = []
  const warn = (line: string): void => { io.stderr.write(line) }

  const format: DocumentFormat = options.output ?? (manifests.length > 0 && manifests.every((m) => m.json) ? 'json' : 'yaml')
  // Values are kept only where the output re-prints them: the edited text is the output otherwise.
  const results = manifests.map((manifest) => injectManifest(manifest, config, options.namespace, warn, denials, format === 'json' || manifest.json))
  if (denials.length > 0) {
    for (const d of denials) io.stderr.write(d)
    return 1
  }
  io.stdout.write(output(manifests, results, format))
  return 0
}

interface Injected {
  /** The input's text after the edits. */
  readonly text: string
  /** The values of its non-empty documents after the edits. */
  readonly values: readonly unknown[]
}

function injectManifest (
  manifest: Manifest, config: Config, namespace: string | undefined, warn: (line: string) => void, denials: string[], keepValues: boolean,
): Injected {
  const { text } = manifest.input
  let out = ''
  const kept: unknown[] = []
  const values = { push: (v: unknown): void => { if (keepValues) kept.push(v) } }
  for (const d of manifest.documents()) {
    const segment = text.slice(d.start, d.end)
    if (d.value === null) { out += segment; continue }
    const { objects, patch: ops } = admitDocument(d.value, config, namespace)
    for (const o of objects) {
      if (o.removed !== undefined) warn(`egress-mtls: warning: ${o.name}: ${o.removed}\n`)
      for (const w of o.warnings) warn(`egress-mtls: warning: ${o.name}: ${w.text}\n`)
      if (o.denial !== undefined) denials.push(`egress-mtls: ${o.name}: denied: ${o.denial.text}\n`)
    }
    if (ops.length === 0) { out += segment; values.push(d.value); continue }
    const expected = applyPatch(d.value, ops)
    values.push(expected)
    const edits = ops.map((op): EditOperation => {
      const path = pointerTokens(op.path)
      if (op.op === 'test') throw new Error('admit() returned a test operation')
      return op.value === undefined ? { op: op.op, path } : { op: op.op, path, value: op.value }
    })
    const notice = (): void => { warn(`egress-mtls: warning: ${objects.map((o) => o.name).join(', ')}: ${reserialized(d.doc)}\n`) }
    const edited = d.doc === undefined
      ? `${formatObjects([expected], 'json').replace(/\n$/, '')}${/\n*$/.exec(segment)?.[0] ?? ''}`
      : editDocument(segment, d.doc, d.start, edits, expected, manifest.json, YAML_CONTEXT, notice)
    // CRLF in gives CRLF out: the lines egress-mtls adds end as the document's own do
    out += segment.includes('\r\n') ? edited.replace(/(?<!\r)\n/g, '\r\n') : edited
  }
  return { text: out, values: kept }
}

/** Why a document lost its comments, quoting and layout, and what to do about it. */
function reserialized (doc: Document.Parsed | undefined): string {
  const seen = { aliases: false }
  if (doc !== undefined) visitYaml(doc, { Alias: () => { seen.aliases = true; return visitYaml.BREAK } })
  return seen.aliases
    ? 'the document is printed anew from its values (it uses YAML anchors and aliases, which cannot be edited in place): ' +
      'its comments (# Source: lines too), quoting and layout are lost; expand the aliases to keep them'
    : 'the document is printed anew from its values (it could not be edited in place): its comments, quoting and layout are lost'
}

/** Each input as edited when its format is the output's, else re-printed; YAML inputs joined with `---`. */
function output (manifests: readonly Manifest[], results: readonly Injected[], format: DocumentFormat): string {
  if (format === 'json') {
    const only = manifests[0]
    if (manifests.length === 1 && only?.json === true && results[0]?.values.length === 1) return results[0].text
    return formatObjects(results.flatMap((r) => r.values), 'json')
  }
  let out = ''
  for (const [i, m] of manifests.entries()) {
    const result = results[i]
    if (result === undefined) continue
    const text = m.json ? formatObjects(result.values, 'yaml') : result.text
    if (text.trim() === '') continue
    if (out !== '') out += `${out.endsWith('\n') ? '' : '\n'}${/^---(\s|$)/.test(text) ? '' : '---\n'}`
    out += text
  }
  return out
}
