// What users see of an admission: every warning and denial admit() answers with, under a
// stable code, and its one text (bare: admit.ts puts `egress-mtls: ` before each once, where
// it makes the answer). README.md "Admission warnings and denials" lists every code.
import { INJECT_LABEL, INJECTED_ANNOTATION, PROXY_CONFIG, TARGETS_ANNOTATION } from '../base/names.ts'
import { OVER_ANNOTATION_LIMIT } from '../text/json-text.ts'

/** One warning or denial: its code and its text as users read it after `egress-mtls: `. */
export interface Message {
  readonly code: Code
  readonly text: string
}

/** The targets a namespace offers, as a warning about the targets annotation ends. */
const offer = (namespace: string, available: readonly string[]): string =>
  `available in namespace ${namespace}: ${available.length === 0 ? 'none' : available.join(', ')}`

/** A name as a warning quotes it: a target name is at most 51 characters, longer ones are cut. */
const quoted = (name: string): string => name.length > 64 ? `${JSON.stringify(name.slice(0, 60))}...` : JSON.stringify(name)

/** Why a Job's (or CronJob's) pod template is left as it is on UPDATE, and what to do. */
const frozen = (kind: string, why: string): string =>
  `the pod template of this ${kind} is left as it is: ${why}; it cannot change after creation, recreate the ${kind} to inject it anew`

/**
 * The catalogue: each code, whether admit() answers it as a warning (allowed) or a denial,
 * and its text. A denial of a Job's UPDATE becomes the warning EMTLS_JOB_TEMPLATE_REFUSED.
 */
export const MESSAGES = Object.freeze({
  EMTLS_INJECT_LABEL_INVALID: {
    as: 'warning',
    text: (value: string) => `label ${INJECT_LABEL} is ${JSON.stringify(value)}, neither "true" (opt in) nor "false" (opt out): nothing injected`,
  },
  EMTLS_NOT_OPTED_IN: {
    as: 'warning',
    text: () => `annotation ${TARGETS_ANNOTATION} is set but the workload is not opted in (label ${INJECT_LABEL}: "true"): nothing injected`,
  },
  EMTLS_OPT_IN_ON_POD_TEMPLATE: {
    as: 'warning',
    text: (kind: string) => `label ${INJECT_LABEL} is on the pod template; the ${kind}'s own labels opt it in: nothing injected`,
  },
  EMTLS_TARGETS_ON_POD_TEMPLATE: {
    as: 'warning',
    text: (kind: string, injected: readonly string[]) =>
      `annotation ${TARGETS_ANNOTATION} is on the pod template, where it is not read: every available target is injected (${injected.join(', ')}); ` +
      `to narrow them, move it to the ${kind}'s own metadata.annotations`,
  },
  EMTLS_NAMESPACE_EXCLUDED: {
    as: 'warning',
    text: (namespace: string) => `namespace ${namespace} is excluded from injection (cluster mode): nothing injected`,
  },
  EMTLS_NO_TARGET_AVAILABLE: {
    as: 'warning',
    text: (namespace: string) => `no target is available in namespace ${namespace}: nothing injected`,
  },
  EMTLS_TARGETS_EMPTY: {
    as: 'warning',
    text: (namespace: string, available: readonly string[]) => `annotation ${TARGETS_ANNOTATION} names no target (${offer(namespace, available)}): nothing injected`,
  },
  EMTLS_TARGET_UNKNOWN: {
    as: 'warning',
    text: (name: string, namespace: string, available: readonly string[]) =>
      `annotation ${TARGETS_ANNOTATION}: unknown target ${quoted(name)} (${offer(namespace, available)})`,
  },
  EMTLS_TARGET_UNAVAILABLE: {
    as: 'warning',
    text: (name: string, namespace: string, available: readonly string[]) =>
      `annotation ${TARGETS_ANNOTATION}: target ${JSON.stringify(name)} is not available in namespace ${namespace} (${offer(namespace, available)})`,
  },
  EMTLS_TARGETS_MORE: {
    as: 'warning',
    text: (count: number) => `annotation ${TARGETS_ANNOTATION}: ${count} more names that are not available`,
  },
  EMTLS_TARGET_AT_WAYPOINT: {
    as: 'warning',
    text: (name: string, waypoint: string) =>
      `target ${name} originates at the ambient waypoint ${waypoint}: nothing is injected for it (ztunnel carries the workload's plain calls ` +
      'to the waypoint, which presents the client certificate; the namespace needs label istio.io/dataplane-mode: ambient)',
  },
  EMTLS_TARGETS_TOO_BIG: {
    as: 'denial',
    text: () => `annotation ${TARGETS_ANNOTATION} ${OVER_ANNOTATION_LIMIT}`,
  },
  EMTLS_HOST_SHARED: {
    as: 'warning',
    text: (host: string, targets: readonly string[]) =>
      `targets ${targets.join(', ')} share host ${host}: none of them is injected unless annotation ${TARGETS_ANNOTATION} names the one this workload presents`,
  },
  EMTLS_TARGETS_SHARE_HOST: {
    as: 'denial',
    text: (host: string, targets: readonly string[]) =>
      `annotation ${TARGETS_ANNOTATION} names ${targets.join(' and ')}, targets of one host ${host}: a sidecar presents one client certificate per host ` +
      '(both DestinationRules would select it, and Istio applies one of them); name one',
  },
  EMTLS_INJECTED_TOO_BIG: {
    as: 'denial',
    text: () => `pod template annotation ${INJECTED_ANNOTATION} ${OVER_ANNOTATION_LIMIT}`,
  },
  EMTLS_USER_VOLUME_UNREADABLE: {
    as: 'denial',
    text: (annotation: string, why: string) => `pod template annotation ${annotation} ${why}`,
  },
  EMTLS_USER_VOLUME_CONFLICT: {
    as: 'denial',
    text: (annotation: string, name: string, target: string, ours: string) =>
      `pod template annotation ${annotation} already has an entry ${JSON.stringify(name)} ` +
      `that is not the one egress-mtls writes for target ${target} (${ours}); rename or remove it`,
  },
  EMTLS_USER_VOLUME_NAME_MISMATCH: {
    as: 'denial',
    text: (annotation: string, key: string, inner: unknown, ours: string) =>
      `pod template annotation ${annotation} has an entry ${JSON.stringify(key)} whose "name" is ${JSON.stringify(inner)}: ` +
      `Istio's injector names it after "name", not the key, so it would clash with or stand in for egress-mtls's ${JSON.stringify(ours)}; ` +
      'give the entry a "name" equal to its key, or none',
  },
  EMTLS_PROXY_CONFIG_KEPT: {
    as: 'warning',
    text: (regexps: readonly string[]) =>
      `pod template annotation ${PROXY_CONFIG} is the workload's own: left as it is, so its sidecar keeps no TLS statistics of the targets (tlsStats); ` +
      `to keep them, add to it proxyStatsMatcher.inclusionRegexps ${JSON.stringify(regexps)}`,
  },
  EMTLS_JOB_TEMPLATE_REFUSED: {
    as: 'warning',
    text: (kind: string, denial: string) => frozen(kind, `injecting it would be refused: ${denial}`),
  },
  EMTLS_JOB_TEMPLATE_DIFFERS: {
    as: 'warning',
    text: (kind: string, had: string, now: string) => frozen(kind, `it differs from what egress-mtls would inject now (${had === now
      ? `targets ${now}, with other volumes or mounts than now`
      : `injected: ${had === '' ? 'none' : had}; now: ${now === '' ? 'none' : now}`})`),
  },
  EMTLS_OBJECT_UNREADABLE: {
    as: 'warning',
    text: (field: string, expected: string) => `${field} is not ${expected}: object left unchanged`,
  },
  EMTLS_INTERNAL_ERROR: {
    as: 'warning',
    text: (err: unknown) => `internal error, object left unchanged: ${String(err)}`,
  },
} as const)

export type Code = keyof typeof MESSAGES

/** The message of a code, its text made from the arguments its template takes. */
export function message<C extends Code> (code: C, ...args: Parameters<(typeof MESSAGES)[C]['text']>): Message {
  const text = MESSAGES[code].text as (...a: typeof args) => string
  return { code, text: text(...args) }
}
