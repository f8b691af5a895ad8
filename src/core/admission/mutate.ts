// The mutation of one pod template (docs/design.md "The mutation"): the JSON Patch that makes its
// metadata carry exactly the wanted targets' volumes, mounts, labels and the injected
// annotation, and nothing more of egress-mtls's. Reads only the pod template's labels and
// annotations; never copies or diffs the object. Pure.
import { escapePointer, type JsonRecord, pointer, type StringMap } from '../base/json.ts'
import { DNS1123_LABEL_FORMAT } from '../base/name-patterns.ts'
import {
  CERT_FILE_NAMES, INJECTED_ANNOTATION, mountPath, PREFIX, PROXY_CONFIG, RESERVED_TARGET_NAMES, resourceName, targetPodLabel,
  USER_VOLUME, USER_VOLUME_MOUNT,
} from '../base/names.ts'
import { fail, ok, type Result } from '../base/result.ts'
import type { AnnotationFormat, Config, Target } from '../config/config.ts'
import { overAnnotationLimit } from '../text/json-text.ts'
import { type Message, message } from './messages.ts'
import { proxyConfigEdit, proxyConfigKey } from './proxy-stats.ts'
import { editUserVolumes, type Entry, entry, newUserVolumes, parseUserVolumes, sameEntry } from './user-volumes.ts'

export interface PatchOperation {
  readonly op: 'add' | 'remove' | 'replace' | 'test'
  readonly path: string
  readonly value?: unknown
}

/** The pod template's metadata as found: absent maps are undefined. */
export interface TemplateMetadata {
  readonly exists: boolean
  readonly labels?: StringMap | undefined
  readonly annotations?: StringMap | undefined
}

/** The patch, or why the pod template is denied. */
export type Mutation = Result<readonly PatchOperation[], Message>

/** What becomes of a userVolume/userVolumeMount annotation: kept as it is, removed, or set to a new value. */
type AnnotationEdit = 'keep' | 'remove' | { readonly set: string }
const KEEP = ok('keep' as const)

const TARGET_NAME = new RegExp(DNS1123_LABEL_FORMAT)
const LABEL_PREFIX = `${PREFIX}/`

/**
 * The patch for the pod template at `templatePath` so that exactly `targets` are injected.
 * Denied when an existing userVolume/userVolumeMount cannot be read, or holds a volume of
 * ours under a name egress-mtls did not write and with a different content.
 */
export function mutatePodTemplate (
  templatePath: readonly string[], meta: TemplateMetadata, targets: readonly Target[], config: Config,
): Mutation {
  const labels = meta.labels ?? {}
  const annotations = meta.annotations ?? {}
  const before = injectedBefore(annotations)
  if (!before.ok) return before
  const ours = before.value
  const wanted = new Set(targets.map((t) => t.name))
  if (wanted.size === 0 && ours.size === 0) return ok([])

  // A target that originates at the egress gateway gets its label and record only: its key
  // never enters the pod (an entry of ours left from sidecar mode is removed).
  const mounted = targets.filter((t) => t.origination === 'sidecar')
  const volumes = rewrite(USER_VOLUME, annotations[USER_VOLUME], mounted, ours, config, (t) => ({
    secret: {
      secretName: t.secretName,
      items: [
        { key: t.secretKeys.cert, path: CERT_FILE_NAMES.cert },
        { key: t.secretKeys.key, path: CERT_FILE_NAMES.key },
        { key: t.secretKeys.cacert, path: CERT_FILE_NAMES.cacert },
      ],
    },
  }))
  if (!volumes.ok) return volumes
  const mounts = rewrite(USER_VOLUME_MOUNT, annotations[USER_VOLUME_MOUNT], mounted, ours, config, (t) => ({
    mountPath: mountPath(config.mountRoot, t.name), readOnly: true,
  }))
  if (!mounts.ok) return mounts

  const patch: PatchOperation[] = []
  const metadata = pointer([...templatePath, 'metadata'])
  let metadataExists = meta.exists
  const map = (field: 'labels' | 'annotations', current: StringMap | undefined) => {
    let exists = current !== undefined
    const fieldPath = `${metadata}/${field}`
    return (key: string, value: string | null): void => {
      const path = `${fieldPath}/${escapePointer(key)}`
      if (value === null) {
        if (current !== undefined && Object.hasOwn(current, key)) patch.push({ op: 'remove', path })
        return
      }
      if (current !== undefined && Object.hasOwn(current, key)) {
        if (current[key] !== value) patch.push({ op: 'replace', path, value })
        return
      }
      if (!metadataExists) { patch.push({ op: 'add', path: metadata, value: {} }); metadataExists = true }
      if (!exists) { patch.push({ op: 'add', path: fieldPath, value: {} }); exists = true }
      patch.push({ op: 'add', path, value })
    }
  }
  const setAnnotation = map('annotations', meta.annotations)
  const setLabel = map('labels', meta.labels)

  const edit = (key: string, e: AnnotationEdit): void => { if (e !== 'keep') setAnnotation(key, e === 'remove' ? null : e.set) }
  edit(USER_VOLUME, volumes.value)
  edit(USER_VOLUME_MOUNT, mounts.value)
  edit(PROXY_CONFIG, proxyConfigEdit(annotations[PROXY_CONFIG], targets, config))
  setAnnotation(INJECTED_ANNOTATION, wanted.size === 0 ? null : [...wanted].join(','))
  for (const name of wanted) setLabel(targetPodLabel(name), 'true')
  for (const name of ours) {
    if (!wanted.has(name) && labels[targetPodLabel(name)] === 'true') setLabel(targetPodLabel(name), null)
  }
  return ok(patch)
}

/**
 * Everything of its inputs that mutatePodTemplate reads, as one string: equal keys (with one
 * configuration) give equal mutations. Pod-template metadata is reduced to the three
 * annotations and the egress-mtls.io/ labels it reads (and proxy.istio.io/config when it is
 * egress-mtls's, else whether it is there: proxy-stats.ts), so that templates differing only
 * in other labels and annotations (the usual case) share one key. Each part is prefixed
 * with its length, so no two inputs make the same key.
 */
export function mutationKey (templatePath: readonly string[], meta: TemplateMetadata, targets: readonly Target[]): string {
  const part = (s: string | undefined): string => s === undefined ? '-' : `${s.length}:${s}`
  const { labels, annotations } = meta
  let key = `${part(templatePath.join('/'))}${meta.exists ? 'M' : 'm'}${labels === undefined ? 'l' : 'L'}${annotations === undefined ? 'a' : 'A'}`
  for (const t of targets) key += part(t.name)
  key += '|'
  if (annotations !== undefined) {
    key += part(annotations[USER_VOLUME]) + part(annotations[USER_VOLUME_MOUNT]) + part(annotations[INJECTED_ANNOTATION])
    key += part(proxyConfigKey(annotations[PROXY_CONFIG]))
  }
  if (labels !== undefined) {
    for (const name in labels) if (name.startsWith(LABEL_PREFIX)) key += part(name) + part(labels[name])
  }
  return key
}

/**
 * The targets egress-mtls injected earlier: exactly those its record, the injected
 * annotation, lists (docs/design.md: what is ours is what the record says). A label
 * `egress-mtls.io/<name>: "true"` or a volume `egress-mtls-<name>` that the record does not
 * list is the user's: kept as written (and adopted, when that target is to be injected and
 * the entry is the one egress-mtls writes). Names in the record that cannot be targets
 * (`inject`, `targets`, not a DNS label) are ignored, so the record can never make a user's
 * key ours. A record over 256 KiB is refused unread (the denial message).
 */
function injectedBefore (annotations: StringMap): Result<Set<string>, Message> {
  const record = annotations[INJECTED_ANNOTATION]
  if (record === undefined) return ok(new Set())
  if (overAnnotationLimit(record)) {
    return fail(message('EMTLS_INJECTED_TOO_BIG'))
  }
  const names = new Set<string>()
  for (const n of record.split(',')) {
    const name = n.trim()
    if (TARGET_NAME.test(name) && !RESERVED_TARGET_NAMES.includes(name)) names.add(name)
  }
  return ok(names)
}

/**
 * Which of our names a map-form entry misnames, if any: Istio's template writes `name: <key>`
 * and then the value's own fields, so a `name` inside the value wins (test/istio). An entry
 * keyed by one of ours under another inner name would leave our mount without its volume, or
 * mount another volume at our path; another key naming ours adds a second volume of our name
 * (the API server refuses the pod) or mounts it elsewhere. The user's other entries are theirs.
 */
function misnamed (form: AnnotationFormat, e: Entry, ours: ReadonlyMap<string, Target>): string | undefined {
  const inner = e.value['name']
  if (form !== 'map' || inner === undefined || inner === e.name) return undefined
  if (ours.has(e.name)) return e.name
  return typeof inner === 'string' && ours.has(inner) ? inner : undefined
}

/** What becomes of a userVolume/userVolumeMount annotation, or why it is denied. */
function rewrite (
  annotation: string, current: string | undefined, targets: readonly Target[], ours: ReadonlySet<string>,
  config: Config, body: (t: Target) => JsonRecord,
): Result<AnnotationEdit, Message> {
  if (current === undefined) {
    if (targets.length === 0) return KEEP
    const entries = targets.map((t) => entry(config.annotationFormat, resourceName(t.name), body(t)))
    return ok({ set: newUserVolumes(config.annotationFormat, entries) })
  }
  const read = parseUserVolumes(current)
  if (!read.ok) return fail(message('EMTLS_USER_VOLUME_UNREADABLE', annotation, read.error))
  const parsed = read.value
  const { form } = parsed
  const byName = new Map(targets.map((t) => [resourceName(t.name), t]))
  const oursByName = new Set([...ours].map(resourceName))
  const seen = new Set<string>()
  // Per entry: itself (kept as written), ours rewritten, or undefined (removed).
  const edits: (Entry | undefined)[] = []
  let changed = false
  for (const e of parsed.entries) {
    const mismatch = misnamed(form, e, byName)
    if (mismatch !== undefined) return fail(message('EMTLS_USER_VOLUME_NAME_MISMATCH', annotation, e.name, e.value['name'], mismatch))
    const target = byName.get(e.name)
    if (target === undefined) {
      // Ours for a target that no longer applies: removed. Anything else is the user's.
      if (oursByName.has(e.name)) { edits.push(undefined); changed = true } else edits.push(e)
      continue
    }
    const wanted = body(target)
    if (sameEntry(e, e.name, wanted)) {
      edits.push(e)
    } else if (!oursByName.has(e.name)) {
      return fail(message('EMTLS_USER_VOLUME_CONFLICT', annotation, e.name, target.name, newUserVolumes(form, [entry(form, e.name, wanted)])))
    } else if (seen.has(e.name)) {
      edits.push(undefined) // a second copy of ours, outdated: removed
      changed = true
    } else {
      edits.push(entry(form, e.name, wanted)) // ours, outdated (the configuration changed): rewritten in place
      changed = true
    }
    seen.add(e.name)
  }
  const added: Entry[] = []
  for (const [name, target] of byName) {
    if (!seen.has(name)) { added.push(entry(form, name, body(target))); changed = true }
  }
  if (!changed) return KEEP
  return ok(edits.every((e) => e === undefined) && added.length === 0 ? 'remove' : { set: editUserVolumes(parsed, edits, added) })
}
