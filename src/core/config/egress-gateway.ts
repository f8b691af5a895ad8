// Origination at an Istio egress gateway (docs/design.md "Origination"): the `egressGateway`
// block of the configuration and a target's `origination`, their schema, defaults and the
// rules a schema cannot say. Pure; config.ts puts it together with the rest.

import { isRecord } from '../base/json.ts'
import { DNS1123_HOSTNAME_FORMAT, DNS1123_LABEL_FORMAT } from '../base/name-patterns.ts'

export type Origination = 'sidecar' | 'egressGateway' | 'waypoint'

/** Where the egress gateway runs and how it is reached (the defaults are those of Istio's gateway chart). */
export interface EgressGateway {
  readonly namespace: string
  /** The labels of the gateway's pods (Gateway and AuthorizationPolicy select them). */
  readonly selector: Readonly<Record<string, string>>
  /** The gateway's Service, fully qualified: `<name>.<namespace>.svc.<cluster domain>`. */
  readonly service: string
  /** The Service port the sidecars send to (ISTIO_MUTUAL), and the Gateway's server port. */
  readonly port: number
}

const DEFAULT_NAMESPACE = 'istio-system'
const DEFAULT_SELECTOR = { istio: 'egressgateway' }
const DEFAULT_PORT = 443
const defaultService = (namespace: string): string => `istio-egressgateway.${namespace}.svc.cluster.local`

const LABEL_KEY = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$'
const LABEL_VALUE = '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$'
/** `<name>.<namespace>.svc.<cluster domain>`: a VirtualService reads a shorter name relative to its own namespace. */
const SERVICE_FQDN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc\.[a-z0-9.-]+$/

/** The longest target name in egressGateway mode: `egress-mtls-<name>-gateway` is an Istio Gateway's name, a DNS label. */
export const MAX_GATEWAY_TARGET_NAME = 63 - 'egress-mtls-'.length - '-gateway'.length

/** The Secret keys Istio's gateway reads for `credentialName` (generic and kubernetes.io/tls forms). */
export const GATEWAY_SECRET_KEYS: readonly (readonly [string, string, string])[] = [['cert', 'key', 'cacert'], ['tls.crt', 'tls.key', 'ca.crt']]

export const GATEWAY_PATTERN_MESSAGES: Readonly<Record<string, string>> = {
  [LABEL_KEY]: 'must be a label key (an optional DNS prefix and "/", then letters, digits, "-", "_" and ".")',
  [LABEL_VALUE]: 'must be a label value (letters, digits, "-", "_" and ".", starting and ending with a letter or digit)',
}

/** The schema of the top-level `egressGateway` block. */
export const egressGatewaySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    namespace: { type: 'string', maxLength: 63, pattern: DNS1123_LABEL_FORMAT },
    selector: {
      type: 'object',
      minProperties: 1,
      propertyNames: { maxLength: 316, pattern: LABEL_KEY },
      additionalProperties: { type: 'string', maxLength: 63, pattern: LABEL_VALUE },
    },
    service: { type: 'string', pattern: DNS1123_HOSTNAME_FORMAT },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
  },
} as const

export const originationSchema = { enum: ['sidecar', 'egressGateway', 'waypoint'] } as const

export interface RawEgressGateway {
  namespace?: string
  selector?: Record<string, string>
  service?: string
  port?: number
}

export function egressGatewayDefaults (raw: RawEgressGateway | undefined): EgressGateway {
  const namespace = raw?.namespace ?? DEFAULT_NAMESPACE
  return {
    namespace,
    selector: raw?.selector ?? DEFAULT_SELECTOR,
    service: raw?.service ?? defaultService(namespace),
    port: raw?.port ?? DEFAULT_PORT,
  }
}

interface Issue { path: string[], message: string }

/**
 * The rules of gateway mode a schema cannot say: the Service in the gateway's namespace, and
 * for each egressGateway target a name short enough for its Gateway and Secret keys the
 * gateway can read. Fields of the wrong type are the schema's to report.
 */
export function egressGatewayIssues (raw: Record<string, unknown>): Issue[] {
  const out: Issue[] = []
  const block = raw['egressGateway']
  if (isRecord(block) && typeof block['service'] === 'string') {
    const m = SERVICE_FQDN.exec(block['service'])
    const namespace = typeof block['namespace'] === 'string' ? block['namespace'] : DEFAULT_NAMESPACE
    if (m === null) {
      out.push({ path: ['egressGateway', 'service'], message: 'must be the gateway Service\'s full name, <name>.<namespace>.svc.<cluster domain> (e.g. istio-egressgateway.istio-system.svc.cluster.local)' })
    } else if (m[2] !== namespace) {
      out.push({ path: ['egressGateway', 'service'], message: `is in namespace ${m[2] ?? ''}, which contradicts egressGateway.namespace (${namespace}): the Secret, Gateway and policies go in the gateway's namespace` })
    }
  }
  const targets = Array.isArray(raw['targets']) ? raw['targets'] as unknown[] : []
  targets.forEach((t, i) => {
    if (!isRecord(t) || t['origination'] !== 'egressGateway') return
    const at = (field: string): string[] => ['targets', String(i), field]
    const name = t['name']
    if (typeof name === 'string' && name.length > MAX_GATEWAY_TARGET_NAME) {
      out.push({ path: at('name'), message: `must be at most ${MAX_GATEWAY_TARGET_NAME} characters with origination egressGateway (its Istio Gateway egress-mtls-<name>-gateway is a DNS label: 63 characters at most)` })
    }
    if (isRecord(t['secretKeys'])) {
      const keys = t['secretKeys']
      const chosen = [keys['cert'] ?? 'cert', keys['key'] ?? 'key', keys['cacert'] ?? 'cacert']
      if (!GATEWAY_SECRET_KEYS.some((set) => set.every((k, n) => chosen[n] === k))) {
        out.push({ path: at('secretKeys'), message: 'must be {cert: cert, key: key, cacert: cacert} or {cert: tls.crt, key: tls.key, cacert: ca.crt} with origination egressGateway: the keys Istio\'s gateway reads from credentialName' })
      }
    }
  })
  return out
}
