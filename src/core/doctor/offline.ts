// `doctor` without a cluster (like `istioctl analyze` on files): what can be known from the
// configuration, manifest files and client certificate files alone. Pure: the shell reads the
// files. Each namespace the manifests name is checked as in the cluster (scanNamespace), with
// the labels of its Namespace object when the manifests hold one; Istio objects of ours in the
// manifests (render's output committed for GitOps) are compared with what render makes.
import { groupVersionKind, isKubeObject, type KubeObject, workloadKind } from '../admission/workloads.ts'
import { about, type Finding } from '../base/findings.ts'
import { isRecord, isStringMap } from '../base/json.ts'
import { NAMESPACE_LABEL } from '../base/names.ts'
import type { Config } from '../config/config.ts'
import type { LiveObject } from '../istio/plan.ts'
import { type IstioObject, render } from '../istio/render.ts'
import { checkMaterial, type Material } from '../tls/client-material.ts'
import { checkResource, checkServerNameVerification, checkSidecarInjection, scanNamespace, type Workload } from './doctor.ts'

export interface OfflineInput {
  /** Every object of the manifests (List items included), in order. */
  readonly objects: readonly unknown[]
  /** The namespace of objects that name none (-n, else "default"). */
  readonly namespace: string
  /** --cert/--key/--cacert, read. */
  readonly material?: {
    readonly files: { readonly cert: string, readonly key: string, readonly cacert: string }
    readonly material: Material
  }
  /** provision's --instance whose Istio objects to expect. */
  readonly instance: string
  readonly now: Date
}

const ISTIO_KINDS = new Set(['ServiceEntry', 'DestinationRule', 'VirtualService'])

const metadataOf = (o: KubeObject): Record<string, unknown> => isRecord(o.metadata) ? o.metadata : {}
const stringMap = (v: unknown): Readonly<Record<string, string>> => isStringMap(v) ? v : {}

export function doctorOffline (config: Config, input: OfflineInput): Finding[] {
  const findings: Finding[] = []
  for (const t of config.targets) {
    const unchecked = checkServerNameVerification(t)
    if (unchecked !== undefined) findings.push(unchecked)
  }
  if (input.material !== undefined) findings.push(...checkMaterial('files', input.material.files, input.material.material, input.now))

  const objects = input.objects.filter(isKubeObject)
  const namespaceOf = (o: KubeObject): string => {
    const ns = metadataOf(o)['namespace']
    return typeof ns === 'string' && ns !== '' ? ns : input.namespace
  }
  const namespaces = new Map<string, Readonly<Record<string, string>>>()
  for (const o of objects) {
    if (o.apiVersion === 'v1' && o.kind === 'Namespace' && typeof metadataOf(o)['name'] === 'string') namespaces.set(String(metadataOf(o)['name']), stringMap(metadataOf(o)['labels']))
  }

  // Workloads, per namespace, as in the cluster.
  const workloads = new Map<string, Workload[]>()
  for (const o of objects) {
    const meta = metadataOf(o)
    if (typeof meta['name'] !== 'string' || workloadKind(groupVersionKind(o.apiVersion, o.kind)) === undefined) continue
    const ns = namespaceOf(o)
    workloads.set(ns, [...workloads.get(ns) ?? [], o as Workload])
  }
  for (const [ns, list] of workloads) {
    const labels = namespaces.get(ns)
    if (labels === undefined) {
      findings.push(about(`Namespace ${ns}`).warn(`not in the manifests: its labels (${NAMESPACE_LABEL}, istio-injection) are not checked offline`))
    }
    // Without the Namespace object, what the API server decides from its labels is assumed to let the webhook see it.
    findings.push(...scanNamespace(config, ns, labels ?? { [NAMESPACE_LABEL]: 'enabled' }, list, true))
    if (labels !== undefined) findings.push(checkSidecarInjection(ns, labels))
  }

  // Istio objects: compared with render's when the manifests hold any of ours.
  const istio = objects.filter((o) => ISTIO_KINDS.has(o.kind) && stringMap(metadataOf(o)['labels'])['app.kubernetes.io/managed-by'] === 'egress-mtls')
  if (istio.length > 0) {
    const desired = render(config, input.instance)
    const key = (kind: string, ns: string, name: string): string => `${kind} ${ns}/${name}`
    const found = new Map(istio.map((o) => [key(o.kind, namespaceOf(o), String(metadataOf(o)['name'])), o as unknown as LiveObject]))
    for (const d of desired) {
      const k = key(d.kind, d.metadata.namespace, d.metadata.name)
      const live = found.get(k)
      findings.push(live === undefined
        ? about(k).fail('not in the manifests; add what egress-mtls render prints')
        : checkResourceOffline(d, live))
      found.delete(k)
    }
    for (const k of found.keys()) findings.push(about(k).warn('in the manifests, labelled as egress-mtls\'s, but render does not make it: a target removed or renamed?'))
  } else if (objects.length > 0) {
    findings.push(about('manifests').ok('no Istio objects of egress-mtls among them: provision applies them in the cluster (render prints them)'))
  }
  return findings
}

/** checkResource, with its advice for files. */
function checkResourceOffline (desired: IstioObject, live: LiveObject): Finding {
  const f = checkResource(desired, live)
  return f.level === 'ok' ? f : { ...f, message: f.message.replace('run egress-mtls provision', 'commit what egress-mtls render prints') }
}
