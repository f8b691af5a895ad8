// egress-mtls inject: the webhook's mutation on manifests, offline. Each document (and each
// item of a List) goes through the same admit() as an AdmissionReview CREATE would; the
// mutated documents are printed as YAML, kinds admit() does not handle pass through as they
// are. Warnings go to stderr; a denial prints its message, no manifests, and exits 1.
import jsonpatch, { type Operation } from 'fast-json-patch'
import type { Config } from '../core/config.ts'
import { isRecord } from '../core/json.ts'
import { admit } from '../core/review.ts'
import { groupVersionKind } from '../core/workloads.ts'
import { configPath, loadConfigFile } from '../io/config-file.ts'
import { parseManifests, readInput, stringifyManifests } from '../io/manifests.ts'
import type { InjectOptions, Io } from './options.ts'

export async function run (options: InjectOptions, io: Io): Promise<number> {
  const config = await loadConfigFile(configPath(options.config, io.env))
  const docs = parseManifests(await readInput(options.filename, io.stdin))
  const denials: string[] = []
  const inject = (object: unknown): unknown => {
    if (!isRecord(object) || typeof object['apiVersion'] !== 'string' || typeof object['kind'] !== 'string') return object
    if (object['kind'].endsWith('List') && Array.isArray(object['items'])) return { ...object, items: object['items'].map(inject) }
    const outcome = injectOne(object, object['apiVersion'], object['kind'], config, options.namespace)
    for (const w of outcome.warnings) io.stderr.write(`egress-mtls: warning: ${outcome.name}: ${unprefixed(w)}\n`)
    if (outcome.denied !== undefined) denials.push(`egress-mtls: ${outcome.name}: denied: ${unprefixed(outcome.denied)}\n`)
    return outcome.object
  }
  const out = docs.map(inject)
  if (denials.length > 0) {
    for (const d of denials) io.stderr.write(d)
    return 1
  }
  io.stdout.write(stringifyManifests(out))
  return 0
}

interface Outcome {
  readonly name: string
  readonly object: unknown
  readonly warnings: readonly string[]
  readonly denied?: string
}

function injectOne (object: Record<string, unknown>, apiVersion: string, kind: string, config: Config, namespace: string | undefined): Outcome {
  const metadata = isRecord(object['metadata']) ? object['metadata'] : {}
  const objectName = typeof metadata['name'] === 'string' ? metadata['name'] : ''
  const objectNamespace = typeof metadata['namespace'] === 'string' && metadata['namespace'] !== '' ? metadata['namespace'] : undefined
  const admission = admit({
    uid: 'egress-mtls-inject',
    kind: groupVersionKind(apiVersion, kind),
    namespace: objectNamespace ?? namespace ?? 'default',
    name: objectName,
    operation: 'CREATE',
    object,
  }, config)
  const { response, patch } = admission
  const name = `${kind}/${objectName === '' ? '(no name)' : objectName}`
  const warnings = response.warnings ?? []
  if (!response.allowed) return { name, object, warnings, denied: response.status?.message ?? 'denied' }
  if (patch.length === 0) return { name, object, warnings }
  // admit()'s patches are shared and frozen; applyPatch inserts values by reference.
  return { name, object: jsonpatch.applyPatch(object, structuredClone(patch) as Operation[], true, false).newDocument, warnings }
}

/** The CLI says "egress-mtls:" once, at the start of the line. */
const unprefixed = (message: string): string => message.replace(/^egress-mtls: /, '')
