// Who is injected and with which targets (docs/design.md "Who is injected"). Pure: the workload's
// own labels and annotations (never its pod template's), its namespace and the configuration
// decide. The API server has already applied the namespace part of the rule
// (namespaceSelector); this is the object-level part, so the offline `inject` gives the same
// answer as the webhook.
import { memo } from '../base/memo.ts'
import { INJECT_LABEL, TARGETS_ANNOTATION } from '../base/names.ts'
import { byHost, type Config, type Target, targetsForNamespace } from '../config/config.ts'
import { overAnnotationLimit } from '../text/json-text.ts'
import { type Message, message } from './messages.ts'

/** Namespaces cluster mode never injects, beyond the mesh root and `excludeNamespaces`. */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease']

export interface Decision {
  /** The targets to inject, in configuration order; empty when nothing is to be injected. */
  readonly targets: readonly Target[]
  /** Why an explicitly opted-in workload gets less than it asked for (admission warnings). */
  readonly warnings: readonly Message[]
  /** Why the workload is refused: its egress-mtls.io/targets value is too big to read, or names two targets of one host. */
  readonly denied?: Message
}

type Metadata = Readonly<Record<string, string>>

/** What a namespace offers its workloads. */
interface Offer {
  /** Every target available there, in configuration order. */
  readonly available: readonly Target[]
  /** The default set: those alone on their host among the available ones. */
  readonly defaults: readonly Target[]
  /** Hosts several available targets share, none of which is a default: each host's warning. */
  readonly shared: readonly Message[]
  /** The targets of the namespace that originate at the waypoint: never injected, each with its warning. */
  readonly atWaypoint: ReadonlyMap<string, Message>
}

// Kept per configuration: the offers of up to 1,000 namespaces.
const namespaceOffers = memo<Offer>(1000, 253)

function offer (config: Config, namespace: string): Offer {
  const all = targetsForNamespace(config, namespace)
  // A waypoint target has nothing to inject: the waypoint presents its certificate.
  const available = all.filter((t) => t.origination !== 'waypoint')
  const waypoint = `${config.waypoint.namespace}/${config.waypoint.name}`
  const groups = byHost(available)
  return {
    available,
    defaults: groups.filter((g) => g.length === 1).flat(),
    shared: groups.filter((g) => g.length > 1).map((g) => message('EMTLS_HOST_SHARED', g[0]?.host ?? '', g.map((t) => t.name))),
    atWaypoint: new Map(all.filter((t) => t.origination === 'waypoint').map((t) => [t.name, message('EMTLS_TARGET_AT_WAYPOINT', t.name, waypoint)])),
  }
}

export function decide (config: Config, namespace: string, labels: Metadata, annotations: Metadata): Decision {
  const value = labels[INJECT_LABEL]
  if (value !== undefined && value !== 'true' && value !== 'false') {
    return nothing(message('EMTLS_INJECT_LABEL_INVALID', value))
  }
  if (value === 'false') return nothing()
  const labelled = value === 'true'
  const requested = annotations[TARGETS_ANNOTATION]
  switch (config.injection) {
    case 'label':
      if (!labelled) {
        return requested === undefined
          ? nothing()
          : nothing(message('EMTLS_NOT_OPTED_IN'))
      }
      break
    case 'namespace':
      break
    case 'cluster':
      if (excluded(config, namespace)) {
        return labelled || requested !== undefined
          ? nothing(message('EMTLS_NAMESPACE_EXCLUDED', namespace))
          : nothing()
      }
      break
  }
  // In cluster mode every workload of the cluster lands here: only those that asked for
  // something explicitly hear that there is nothing for them.
  const explicit = labelled || requested !== undefined || config.injection === 'namespace'
  const { available, defaults, shared, atWaypoint } = namespaceOffers(config, namespace, () => offer(config, namespace))
  if (requested === undefined) {
    // Never two targets of one host by default: the workload names the one it presents.
    if (available.length === 0 && atWaypoint.size === 0 && explicit) return nothing(message('EMTLS_NO_TARGET_AVAILABLE', namespace))
    return { targets: defaults, warnings: explicit ? [...shared, ...atWaypoint.values()] : [] }
  }
  return narrow(config, namespace, available, atWaypoint, requested)
}

/** The targets named by `egress-mtls.io/targets`, among those available in the namespace. */
function narrow (
  config: Config, namespace: string, available: readonly Target[], atWaypoint: ReadonlyMap<string, Message>, requested: string,
): Decision {
  // Bounded: the value is split only when it could be stored (the API server refuses more).
  if (overAnnotationLimit(requested)) {
    return {
      targets: [],
      warnings: [],
      denied: message('EMTLS_TARGETS_TOO_BIG'),
    }
  }
  const names = requested.split(',').map((n) => n.trim()).filter((n) => n !== '')
  const offered = available.map((t) => t.name)
  const configured = new Set(config.targets.map((t) => t.name))
  const offeredSet = new Set(offered)
  // Only the warnings shown are built: a value of ~100,000 unknown names costs one pass
  // over them, not 100,000 messages of which ten are kept.
  const warnings: Message[] = []
  let more = 0
  const warn = (make: () => Message): void => {
    if (warnings.length < MAX_WARNINGS) warnings.push(make())
    else more++
  }
  if (names.length === 0) warn(() => message('EMTLS_TARGETS_EMPTY', namespace, offered))
  const wanted = new Set(names)
  for (const name of wanted) {
    const waypoint = atWaypoint.get(name)
    if (waypoint !== undefined) warn(() => waypoint)
    else if (!configured.has(name)) warn(() => message('EMTLS_TARGET_UNKNOWN', name, namespace, offered))
    else if (!offeredSet.has(name)) warn(() => message('EMTLS_TARGET_UNAVAILABLE', name, namespace, offered))
  }
  // Beyond MAX_WARNINGS, the last one shown says how many more there are.
  const shown = more === 0 ? warnings : [...warnings.slice(0, MAX_WARNINGS - 1), message('EMTLS_TARGETS_MORE', more + 1)]
  const targets = available.filter((t) => wanted.has(t.name))
  const twice = byHost(targets).find((g) => g.length > 1)
  if (twice !== undefined) return { targets: [], warnings: shown, denied: message('EMTLS_TARGETS_SHARE_HOST', twice[0]?.host ?? '', twice.map((t) => t.name)) }
  return { targets, warnings: shown }
}

/** Warnings about one annotation, at most: the API server passes every warning to the client. */
const MAX_WARNINGS = 10

/**
 * The opt-in label put on the pod template instead of the workload (label mode): what a
 * user who meant to opt in should hear.
 */
export function misplacedOptIn (config: Config, kind: string, labels: Metadata, podTemplateLabels: Metadata): Message | undefined {
  return config.injection === 'label' && labels[INJECT_LABEL] === undefined && podTemplateLabels[INJECT_LABEL] === 'true'
    ? message('EMTLS_OPT_IN_ON_POD_TEMPLATE', kind)
    : undefined
}

/**
 * `egress-mtls.io/targets` on the pod template (where Istio users put `sidecar.istio.io/*`)
 * instead of the workload, while targets are injected: not read, so every available target
 * is; the user meant to narrow them.
 */
export function misplacedTargets (
  kind: string, annotations: Metadata, podTemplateAnnotations: Metadata, injected: readonly Target[],
): Message | undefined {
  return injected.length > 0 && annotations[TARGETS_ANNOTATION] === undefined && podTemplateAnnotations[TARGETS_ANNOTATION] !== undefined
    ? message('EMTLS_TARGETS_ON_POD_TEMPLATE', kind, injected.map((t) => t.name))
    : undefined
}

function excluded (config: Config, namespace: string): boolean {
  return SYSTEM_NAMESPACES.includes(namespace) || namespace === config.meshRootNamespace || config.excludeNamespaces.includes(namespace)
}

function nothing (warning?: Message): Decision {
  return { targets: [], warnings: warning === undefined ? [] : [warning] }
}
