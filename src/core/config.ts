// The configuration file of DESIGN.md: schema, defaults and validation. Pure: text in,
// a frozen Config out, or a ConfigError naming the field, the file and the line.
import { Ajv, type ErrorObject } from 'ajv'
import { LineCounter, parseDocument, isNode } from 'yaml'
import { ConfigError, type ConfigIssue } from '../errors.ts'
import { deepFreeze } from './json.ts'
import { RESERVED_TARGET_NAMES } from './names.ts'

export type InjectionMode = 'label' | 'namespace' | 'cluster'
export type AnnotationFormat = 'map' | 'array'
export type Routing = 'targetPort' | 'virtualService'

export interface SecretKeys {
  readonly cert: string
  readonly key: string
  readonly cacert: string
}

export interface Target {
  readonly name: string
  readonly host: string
  readonly port: number
  readonly plainPort: number
  readonly secretName: string
  readonly secretKeys: SecretKeys
  /** Namespaces where the target is available; `["*"]` is the whole mesh. */
  readonly namespaces: readonly string[]
  readonly sni: string
  readonly subjectAltNames: readonly string[]
  /** The sidecar checks that the server certificate names `subjectAltNames`, or `sni` when none are given. */
  readonly verifyServerName: boolean
  readonly maxConnectionDuration?: string
}

export interface Config {
  readonly injection: InjectionMode
  readonly mountRoot: string
  readonly annotationFormat: AnnotationFormat
  readonly routing: Routing
  readonly workloadSelector: boolean
  readonly meshRootNamespace: string
  /** Cluster mode: namespaces never injected, beyond the built-in ones. */
  readonly excludeNamespaces: readonly string[]
  readonly targets: readonly Target[]
}

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
const DNS_NAME = '^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$'
const SECRET_KEY = '^[-._a-zA-Z0-9]+$'
const DURATION = '^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|µs|ns))+$'

const port = { type: 'integer', minimum: 1, maximum: 65535 }
const dnsLabel = { type: 'string', maxLength: 63, pattern: DNS_LABEL }
const dnsName = { type: 'string', pattern: DNS_NAME }
const secretKey = { type: 'string', maxLength: 253, pattern: SECRET_KEY }

/** JSON Schema (draft-07) of the configuration file. The chart's values.schema.json embeds it. */
export const configSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  additionalProperties: false,
  properties: {
    injection: { enum: ['label', 'namespace', 'cluster'] },
    mountRoot: { type: 'string', pattern: '^/[^\\s:,"]*$' },
    annotationFormat: { enum: ['map', 'array'] },
    routing: { enum: ['targetPort', 'virtualService'] },
    workloadSelector: { type: 'boolean' },
    meshRootNamespace: dnsLabel,
    excludeNamespaces: { type: 'array', items: dnsLabel, uniqueItems: true },
    targets: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'host', 'namespaces'],
        properties: {
          name: { type: 'string', maxLength: 51, pattern: DNS_LABEL },
          host: dnsName,
          port,
          plainPort: port,
          secretName: dnsName,
          secretKeys: {
            type: 'object',
            additionalProperties: false,
            properties: { cert: secretKey, key: secretKey, cacert: secretKey },
          },
          namespaces: {
            type: 'array',
            minItems: 1,
            uniqueItems: true,
            items: { anyOf: [{ const: '*' }, dnsLabel] },
          },
          sni: dnsName,
          subjectAltNames: { type: 'array', items: { type: 'string', minLength: 1 } },
          verifyServerName: { type: 'boolean' },
          maxConnectionDuration: { type: 'string', pattern: DURATION },
        },
      },
    },
  },
} as const

const PATTERN_MESSAGES: Readonly<Record<string, string>> = {
  [DNS_LABEL]: 'must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit)',
  [DNS_NAME]: 'must be a lowercase DNS name without wildcard (e.g. api.bank.example.com)',
  [SECRET_KEY]: 'must be a Secret key (letters, digits, "-", "_" and ".")',
  [DURATION]: 'must be a duration such as 1h, 30m or 1h30m',
  '^/[^\\s:,"]*$': 'must be an absolute path without spaces, ":", "," or quotes',
}

let validator: ReturnType<Ajv['compile']> | undefined
function validate (value: unknown): readonly ErrorObject[] {
  validator ??= new Ajv({ allErrors: true, strict: true }).compile(configSchema)
  return validator(value) ? [] : (validator.errors ?? [])
}

function message (e: ErrorObject): { path: string[], message: string } {
  const path = e.instancePath.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'required': return { path: [...path, String(p['missingProperty'])], message: 'is required' }
    case 'additionalProperties': return { path: [...path, String(p['additionalProperty'])], message: 'unknown field' }
    case 'pattern': return { path, message: PATTERN_MESSAGES[String(p['pattern'])] ?? `must match ${String(p['pattern'])}` }
    case 'enum': return { path, message: `must be one of ${(p['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` }
    case 'anyOf': return { path, message: 'must be "*" or a namespace name (DNS-1123 label)' }
    case 'uniqueItems': return { path, message: 'must not repeat an item' }
    default: return { path, message: e.message ?? e.keyword }
  }
}

/** `targets[1].host` from ["targets", "1", "host"]. */
export function formatPath (path: readonly (string | number)[]): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number' || /^\d+$/.test(seg)) out += `[${seg}]`
    else out += out === '' ? seg : `.${seg}`
  }
  return out
}

/** Parses and validates a configuration file's text (YAML or JSON). */
export function parseConfig (text: string, source = 'config'): Config {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(source, doc.errors.map((e) => ({
      path: '', message: e.message.split('\n')[0] ?? e.message, line: lineCounter.linePos(e.pos[0]).line,
    })))
  }
  const raw: unknown = doc.toJS() ?? {}
  const lineOf = (path: readonly string[]): number | undefined => {
    // The deepest node that exists along the path: a missing field points at its parent.
    for (let n = path.length; n >= 0; n--) {
      const node: unknown = doc.getIn(path.slice(0, n).map((s) => /^\d+$/.test(s) ? Number(s) : s), true)
      const start = rangeStart(node) ?? (n === 0 ? rangeStart(doc.contents) : undefined)
      if (start !== undefined) return lineCounter.linePos(start).line
    }
    return undefined
  }
  return resolveConfig(raw, source, lineOf)
}

function rangeStart (node: unknown): number | undefined {
  return isNode(node) ? (node.range as readonly number[] | null | undefined)?.[0] : undefined
}

/**
 * Validates an already parsed configuration object and applies the defaults.
 * `lineOf` maps a field path to its line in the source, when the source has lines.
 */
export function resolveConfig (raw: unknown, source = 'config', lineOf: (path: readonly string[]) => number | undefined = () => undefined): Config {
  const issue = (path: readonly string[], msg: string): ConfigIssue => {
    const line = lineOf(path)
    return line === undefined ? { path: formatPath(path), message: msg } : { path: formatPath(path), message: msg, line }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(source, [issue([], 'must be a mapping of configuration fields')])
  }
  const schemaErrors = validate(raw)
  if (schemaErrors.length > 0) {
    const seen = new Set<string>()
    const issues: ConfigIssue[] = []
    for (const e of schemaErrors) {
      // anyOf reports each branch too; the anyOf line alone says it best.
      if (e.schemaPath.includes('/anyOf/')) continue
      const m = message(e)
      const i = issue(m.path, m.message)
      const key = `${i.path}\0${i.message}`
      if (!seen.has(key)) { seen.add(key); issues.push(i) }
    }
    throw new ConfigError(source, issues)
  }
  const config = withDefaults(raw)
  const issues = crossCheck(config).map(({ path, message: msg }) => issue(path, msg))
  if (issues.length > 0) throw new ConfigError(source, issues)
  return deepFreeze(config)
}

interface RawTarget {
  name: string
  host: string
  namespaces: string[]
  port?: number
  plainPort?: number
  secretName?: string
  secretKeys?: Partial<SecretKeys>
  sni?: string
  subjectAltNames?: string[]
  verifyServerName?: boolean
  maxConnectionDuration?: string
}
interface RawConfig {
  injection?: InjectionMode
  mountRoot?: string
  annotationFormat?: AnnotationFormat
  routing?: Routing
  workloadSelector?: boolean
  meshRootNamespace?: string
  excludeNamespaces?: string[]
  targets?: RawTarget[]
}

function withDefaults (raw: RawConfig): Config {
  return {
    injection: raw.injection ?? 'label',
    mountRoot: (raw.mountRoot ?? '/etc/egress-mtls').replace(/(?<=.)\/+$/, ''),
    annotationFormat: raw.annotationFormat ?? 'map',
    routing: raw.routing ?? 'targetPort',
    workloadSelector: raw.workloadSelector ?? true,
    meshRootNamespace: raw.meshRootNamespace ?? 'istio-system',
    excludeNamespaces: raw.excludeNamespaces ?? [],
    targets: (raw.targets ?? []).map((t) => ({
      name: t.name,
      host: t.host,
      port: t.port ?? 443,
      plainPort: t.plainPort ?? 80,
      secretName: t.secretName ?? `${t.name}-mtls`,
      secretKeys: { cert: 'cert', key: 'key', cacert: 'cacert', ...t.secretKeys },
      namespaces: t.namespaces,
      sni: t.sni ?? t.host,
      subjectAltNames: t.subjectAltNames ?? [],
      verifyServerName: t.verifyServerName ?? true,
      ...(t.maxConnectionDuration === undefined ? {} : { maxConnectionDuration: t.maxConnectionDuration }),
    })),
  }
}

/** Rules a JSON Schema cannot say: uniqueness across targets, reserved names, port clashes. */
function crossCheck (config: Config): { path: string[], message: string }[] {
  const out: { path: string[], message: string }[] = []
  const names = new Map<string, number>()
  const hosts = new Map<string, number>()
  config.targets.forEach((t, i) => {
    const at = (field: string): string[] => ['targets', String(i), field]
    const sameName = names.get(t.name)
    if (sameName !== undefined) out.push({ path: at('name'), message: `duplicates targets[${sameName}].name "${t.name}"` })
    else names.set(t.name, i)
    if (RESERVED_TARGET_NAMES.includes(t.name)) {
      out.push({ path: at('name'), message: `"${t.name}" is reserved (egress-mtls.io/${t.name} is a name egress-mtls uses itself)` })
    }
    const sameHost = hosts.get(t.host)
    if (sameHost !== undefined) out.push({ path: at('host'), message: `duplicates targets[${sameHost}].host "${t.host}" (two ServiceEntries for one host conflict)` })
    else hosts.set(t.host, i)
    if (/^[0-9]+$/.test(t.host.split('.').at(-1) ?? '')) out.push({ path: at('host'), message: 'must be a DNS name, not an IP address' })
    if (t.port === t.plainPort) out.push({ path: at('plainPort'), message: `must differ from port (${t.port})` })
    if (t.namespaces.includes('*') && t.namespaces.length > 1) out.push({ path: at('namespaces'), message: '"*" (the whole mesh) must stand alone' })
    if (t.maxConnectionDuration !== undefined && durationMs(t.maxConnectionDuration) < 1) {
      out.push({ path: at('maxConnectionDuration'), message: 'must be at least 1ms (Istio rejects shorter durations)' })
    }
    if (!t.verifyServerName && t.subjectAltNames.length > 0) out.push({ path: at('verifyServerName'), message: 'false contradicts subjectAltNames (names to verify); remove one of them' })
    const keys = [t.secretKeys.cert, t.secretKeys.key, t.secretKeys.cacert]
    if (new Set(keys).size !== keys.length) out.push({ path: at('secretKeys'), message: 'cert, key and cacert must be three different keys' })
  })
  return out
}

const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 }

/** Milliseconds of a duration that matched DURATION (`1h30m`, `1.5s`). */
function durationMs (text: string): number {
  let ms = 0
  for (const [, n, unit] of text.matchAll(/([0-9.]+)(h|ms|m|s|us|µs|ns)/g)) ms += Number(n) * (UNIT_MS[unit ?? ''] ?? 0)
  return ms
}

/** The targets available to workloads of a namespace, in configuration order. */
export function targetsForNamespace (config: Config, namespace: string): Target[] {
  return config.targets.filter((t) => t.namespaces.includes('*') || t.namespaces.includes(namespace))
}
