// Golden files: the cases a folder holds (a case is its files: adding one needs no code), the
// files that belong to no case, the check of an output against its expected file
// (GOLDEN_UPDATE=1 rewrites it; without it, a missing or different file fails), and the two
// ways a manifest is injected: through the webhook's AdmissionReviews, and `inject` in-process.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'

import { parseAllDocuments } from 'yaml'

import { ADMISSION_API_VERSION, type AdmissionResponse } from '../../src/core/admission/admission-review.ts'
import { applyPatch } from '../../src/core/admission/apply-patch.ts'
import type { PatchOperation } from '../../src/core/admission/mutate.ts'
import { isKubeObject, syntheticRequest } from '../../src/core/admission/workloads.ts'
import { type CliResult, runCli } from './run-cli.ts'

const GOLDEN_UPDATE = process.env['GOLDEN_UPDATE'] === '1'

export interface GoldenFolder {
  /** The cases, sorted: the names before `input`. */
  readonly cases: readonly string[]
  /** What is wrong with the folder: files of no case, cases without an expected file. */
  readonly stale: readonly string[]
}

/**
 * The cases of a folder: each `<case><input>` with its `<case><expected>` files, and maybe
 * its `<case><optional>` ones. Any other file (but those `ignore` matches) is stale, and so is an
 * expected file missing (unless GOLDEN_UPDATE=1, which writes it).
 */
export function goldenFolder (
  dir: string,
  input: string,
  expected: readonly string[],
  optional: readonly string[] = [],
  ignore = /^$/,
): GoldenFolder {
  const files = readdirSync(dir).filter((f) => !ignore.test(f)).sort()
  // the longest suffix first: `.injected.yaml` before `.yaml`
  const suffixes = [input, ...expected, ...optional].sort((a, b) => b.length - a.length)
  const isInput = (f: string): boolean => f.endsWith(input) && suffixes.find((s) => f.endsWith(s)) === input
  const cases = files.filter(isInput).map((f) => f.slice(0, -input.length))
  const stale: string[] = []
  for (const f of files) {
    const suffix = suffixes.find((s) => f.endsWith(s))
    if (suffix === undefined) stale.push(`${f}: belongs to no case (a case is <name>${input} with ${expected.map((e) => `<name>${e}`).join(', ')})`)
    else if (!cases.includes(f.slice(0, -suffix.length))) stale.push(`${f}: expected output without its input ${f.slice(0, -suffix.length)}${input}: remove it`)
  }
  if (!GOLDEN_UPDATE) {
    for (const c of cases) for (const e of expected) if (!files.includes(`${c}${e}`)) stale.push(`${c}${input}: no ${c}${e}: run the test with GOLDEN_UPDATE=1 and read what it writes`)
  }
  return { cases, stale }
}

/**
 * `actual` is the file's text; with GOLDEN_UPDATE=1 it becomes the file's text. An optional
 * file holds a non-empty text only: an empty one means no file.
 */
export function expectGolden (file: string, actual: string, optional = false): void {
  if (GOLDEN_UPDATE) {
    if (optional && actual === '') rmSync(file, { force: true })
    else writeFileSync(file, actual)
  }
  const expected = optional && !existsSync(file) ? '' : readFileSync(file, 'utf8')
  assert.equal(actual, expected, `${file} differs from what the code gives now (GOLDEN_UPDATE=1 rewrites it: read the diff)`)
}

/** What the webhook answers an AdmissionReview (its JSON text): in-process, or over HTTPS. */
export type Answer = (review: string) => Promise<AdmissionResponse>

export interface Webhooked {
  /** Each object of the manifest as the API server stores it: the answer's patch applied. */
  readonly objects: readonly unknown[]
  /** The answers' warnings, `Kind/name: warning` without the `egress-mtls: ` prefix. */
  readonly warnings: readonly string[]
  /** Whether every answer is allowed and carries no patch. */
  readonly unchanged: boolean
}

/**
 * A manifest through the webhook: each document as the AdmissionReview CREATE the API server
 * would send (what `inject` asks admit() too), the patch of the answer, base64 and all, applied.
 */
export async function throughWebhook (manifest: string, answer: Answer): Promise<Webhooked> {
  const objects: unknown[] = []
  const warnings: string[] = []
  let unchanged = true
  for (const d of parseAllDocuments(manifest)) {
    const object: unknown = d.toJS()
    if (object === null) continue
    assert.ok(isKubeObject(object), 'a golden manifest holds objects with an apiVersion and a kind, no Lists')
    const metadata = object.metadata as { namespace?: string } | undefined
    const request = syntheticRequest(object, randomUUID(), 'CREATE', metadata?.namespace ?? 'default')
    const response = await answer(JSON.stringify({ apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', request }))
    assert.equal(response.uid, request.uid)
    assert.ok(response.allowed, response.status?.message)
    for (const w of response.warnings ?? []) warnings.push(`${object.kind}/${request.name}: ${w.replace(/^egress-mtls: /, '')}`)
    const patch = response.patch === undefined ? [] : JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as PatchOperation[]
    if (patch.length > 0) unchanged = false
    objects.push(applyPatch(object, patch))
  }
  return { objects, warnings, unchanged }
}

/** A `.warnings` file (the lines `inject` prints) as throughWebhook gives warnings: `Kind/name: warning`. */
export function goldenWarnings (file: string): string[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => l.replace(/^egress-mtls: warning: /, ''))
}

/** The objects of a manifest, as throughWebhook reads them. */
export const manifestObjects = (manifest: string): unknown[] =>
  parseAllDocuments(manifest).map((d) => d.toJS() as unknown).filter((o) => o !== null)

/** `egress-mtls inject ARGS` in-process, as the CLI runs it. */
export const inject = (args: readonly string[], stdin = ''): Promise<CliResult> => runCli(['inject', ...args], {}, stdin)
