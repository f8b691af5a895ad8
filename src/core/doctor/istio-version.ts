// Which Istio runs the mesh, from istiod's Deployment, and whether its pilot-agent reloads every
// rotation of a mounted Secret: before 1.29.3 and 1.30.3 it reloaded the first one only
// (istio/istio#59912), so a renewed client certificate reached the sidecar only when the pod
// restarted. Pure.
import { about, type Finding } from '../base/findings.ts'

/** The first patch release of each minor that reloads every rotation; later minors all do. */
export const FIXED: readonly (readonly [number, number, number])[] = [[1, 29, 3], [1, 30, 3]]

export type Version = readonly [major: number, minor: number, patch: number]

/** What doctor reads of an istiod Deployment. */
export interface Istiod {
  readonly name: string
  /** The image of its `discovery` container (or its only container). */
  readonly image?: string
  readonly labels: Readonly<Record<string, string>>
}

/** `1.29.2`, `1.29.2-distroless`, `v1.30.3`: the version; anything else (latest, a digest, a dev build's name) undefined. */
export function parseVersion (text: string): Version | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+_][\w.-]*)?$/.exec(text)
  return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3])]
}

/** The tag of an image reference (`registry:5000/istio/pilot:1.29.2@sha256:...` → 1.29.2). */
function imageTag (image: string): string | undefined {
  const name = image.split('@')[0] ?? ''
  const slash = name.lastIndexOf('/')
  const colon = name.lastIndexOf(':')
  return colon > slash ? name.slice(colon + 1) : undefined
}

/**
 * istiod's version and where it was read: the image tag of its discovery container; when
 * that is no version (a digest, `latest`), the label `operator.istio.io/version` (istioctl
 * installs) or `app.kubernetes.io/version` (Helm installs). `istio.io/rev` names a revision
 * (`default`, `1-29-2`), not a version, and is not read.
 */
export function istiodVersion (istiod: Istiod): { version: Version, source: string } | undefined {
  const tag = istiod.image === undefined ? undefined : imageTag(istiod.image)
  const fromTag = tag === undefined ? undefined : parseVersion(tag)
  if (fromTag !== undefined) return { version: fromTag, source: `image ${istiod.image ?? ''}` }
  for (const label of ['operator.istio.io/version', 'app.kubernetes.io/version']) {
    const value = istiod.labels[label]
    const version = value === undefined ? undefined : parseVersion(value)
    if (version !== undefined) return { version, source: `label ${label}=${value ?? ''}` }
  }
  return undefined
}

const below = (a: Version, b: Version): boolean => a[0] !== b[0] ? a[0] < b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2]

/** Reloads every rotation: at or above the fix of its minor, or a minor after the last fixed one. */
export function reloadsEveryRotation (v: Version): boolean {
  const sameMinor = FIXED.find((f) => f[0] === v[0] && f[1] === v[1])
  if (sameMinor !== undefined) return !below(v, sameMinor)
  const last = FIXED.at(-1)
  return last !== undefined && below(last, v)
}

const show = (v: Version): string => v.join('.')

/**
 * For a namespace with sidecar targets: each istiod of the mesh root namespace (one per
 * revision) reloads every rotation of a mounted Secret, or a warning saying what to do.
 */
export function checkIstioVersion (root: string, istiods: readonly Istiod[]): Finding[] {
  if (istiods.length === 0) {
    return [about(`Istio (${root})`).warn('no istiod Deployment (label app=istiod) here: cannot tell whether the sidecars reload a renewed client certificate (Istio 1.29.3, 1.30.3 and later do)')]
  }
  return istiods.map((d) => {
    const { ok, warn } = about(`Istio (${root}/${d.name})`)
    const found = istiodVersion(d)
    if (found === undefined) return warn(`cannot tell istiod's version (image ${d.image ?? 'none'}, no operator.istio.io/version or app.kubernetes.io/version label): Istio before 1.29.3 and 1.30.3 reloads a renewed client certificate only when the pod restarts`)
    const v = show(found.version)
    if (reloadsEveryRotation(found.version)) return ok(`Istio ${v} (${found.source}) reloads every renewal of a mounted Secret`)
    return warn(`Istio ${v} (${found.source}): its sidecars reload a mounted Secret's first renewal only (istio/istio#59912): a later renewed client certificate is used only after the pod restarts. Upgrade Istio to 1.29.3, 1.30.3 or later, or restart the workloads (kubectl rollout restart) after each renewal`)
  })
}
