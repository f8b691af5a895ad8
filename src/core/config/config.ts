// The configuration file of docs/design.md: schema, defaults and validation. Pure: text in,
// a frozen Config out, or the issues found, each naming the field and the line (the shells
// name the file and make it the exit-2 ConfigError: io/config-file.ts).
import { Ajv, type ErrorObject } from 'ajv'
import { isMap, isNode, isScalar, LineCounter, parseDocument } from 'yaml'

import type { ConfigIssue } from '../../errors.ts'
import { HOUR, MILLISECOND, parseGoDuration } from '../base/duration.ts'
import { deepFreeze, isRecord, pointerTokens } from '../base/json.ts'
import { DNS1123_HOSTNAME_FORMAT, DNS1123_LABEL_FORMAT } from '../base/name-patterns.ts'
import { hostResourceName, MAX_SHARED_HOST_LENGTH, RESERVED_TARGET_NAMES } from '../base/names.ts'
import { fail, ok, type Result } from '../base/result.ts'
import { yamlTooDeep } from '../text/yaml-nesting.ts'
import {
  type EgressGateway, egressGatewayDefaults, egressGatewayIssues, egressGatewaySchema, GATEWAY_PATTERN_MESSAGES, type Origination,
  originationSchema, type RawEgressGateway,
} from './egress-gateway.ts'

export type { EgressGateway, Origination }

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
  /**
   * How long one upstream connection lives (DestinationRule `connectionPool.tcp.maxConnectionDuration`),
   * so that a renewed client certificate is presented within it: DEFAULT_MAX_CONNECTION_DURATION
   * unless the user wrote one; undefined when turned off (`0` or `off`).
   */
  readonly maxConnectionDuration?: string
  /** Where the mutual TLS starts: the workload's sidecar, or the egress gateway (the key stays in the gateway's namespace). */
  readonly origination: Origination
}

/** The default bound on a connection's life (docs/design.md, "Rotation reaches the connection"). */
export const DEFAULT_MAX_CONNECTION_DURATION = '1h'

export interface Config {
  readonly injection: InjectionMode
  readonly mountRoot: string
  readonly annotationFormat: AnnotationFormat
  readonly routing: Routing
  readonly workloadSelector: boolean
  readonly meshRootNamespace: string
  /** Cluster mode: namespaces never injected, beyond the built-in ones. */
  readonly excludeNamespaces: readonly string[]
  /** The egress gateway of targets with `origination: egressGateway`. */
  readonly egressGateway: EgressGateway
  /** Injected pods get `proxy.istio.io/config` with a proxyStatsMatcher keeping Envoy's TLS statistics of their sidecar targets. */
  readonly tlsStats: boolean
  readonly targets: readonly Target[]
}

const DNS_LABEL = DNS1123_LABEL_FORMAT
const DNS_NAME = DNS1123_HOSTNAME_FORMAT
const SECRET_KEY = '^[-._a-zA-Z0-9]+$'
/** A Go duration, or `0` / `off` (UNBOUNDED) for maxConnectionDuration turned off. */
const DURATION = '^(0|off|([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|µs|ns))+)$'

/** What turns maxConnectionDuration off: connections live as long as Envoy and the server keep them. */
const UNBOUNDED: readonly string[] = ['0', 'off']
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
    egressGateway: egressGatewaySchema,
    tlsStats: { type: 'boolean' },
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
          maxConnectionDuration: { anyOf: [{ const: 0 }, { type: 'string', pattern: DURATION }] },
          origination: originationSchema,
        },
      },
    },
  },
} as const

const PATTERN_MESSAGES: Readonly<Record<string, string>> = {
  [DNS_LABEL]: 'must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit)',
  [DNS_NAME]: 'must be a lowercase DNS name without wildcard (e.g. api.bank.example.com)',
  [SECRET_KEY]: 'must be a Secret key (letters, digits, "-", "_" and ".")',
  [DURATION]: 'must be a duration such as 1h, 30m or 1h30m, or off',
  '^/[^\\s:,"]*$': 'must be an absolute path without spaces, ":", "," or quotes',
  ...GATEWAY_PATTERN_MESSAGES,
}

let validator: ReturnType<Ajv['compile']> | undefined

function validate (value: unknown): readonly ErrorObject[] {
  validator ??= new Ajv({ allErrors: true, strict: true, verbose: true }).compile(configSchema)
  return validator(value) ? [] : (validator.errors ?? [])
}

function message (e: ErrorObject): { path: string[], message: string } {
  const path = pointerTokens(e.instancePath)
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'required': return { path: [...path, String(p['missingProperty'])], message: 'is required' }
    case 'additionalProperties': {
      const field = String(p['additionalProperty'])
      const known = isRecord(e.parentSchema) && isRecord(e.parentSchema['properties']) ? Object.keys(e.parentSchema['properties']) : []
      const guess = closest(field, known)
      return { path: [...path, field], message: guess === undefined ? 'unknown field' : `unknown field (did you mean "${guess}"?)` }
    }
    case 'pattern': {
      // A key that fails propertyNames is reported at its map, with the key in propertyName.
      const key = e.propertyName
      const msg = PATTERN_MESSAGES[String(p['pattern'])] ?? `must match ${String(p['pattern'])}`
      return key === undefined ? { path, message: msg } : { path: [...path, key], message: `the key ${msg}` }
    }
    case 'minProperties': return { path, message: 'must not be empty' }
    case 'enum': return { path, message: `must be one of ${(p['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` }
    case 'anyOf': return { path, message: path.at(-1) === 'maxConnectionDuration' ? PATTERN_MESSAGES[DURATION] ?? '' : 'must be "*" or a namespace name (DNS-1123 label)' }
    case 'uniqueItems': return { path, message: 'must not repeat an item' }
    default: return { path, message: e.message ?? e.keyword }
  }
}

/** The known name closest to a misspelt one, if any is close (case, a few typos). */
export function closest (word: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1
  for (const k of known) {
    const d = k.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, k)
    if (d < bestDistance) { best = k; bestDistance = d }
  }
  return best
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance (a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost))
    }
    prev = row
  }
  return prev[b.length] ?? 0
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

/** The largest configuration accepted: what one ConfigMap can hold. */
export const MAX_CONFIG_BYTES = 1024 * 1024
/** Deeper than any configuration needs (it nests 4 levels); bounds the parser's recursion. */
const MAX_CONFIG_DEPTH = 32
/** Aliases a configuration may expand (the yaml library's default, said here on purpose). */
const MAX_ALIASES = 100
// C0 controls other than tab, line feed and carriage return, and DEL: YAML and JSON allow none.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/

/** A configuration, or every issue found in it. */
export type ConfigResult = Result<Config, readonly ConfigIssue[]>

/** One issue of the whole text (no field). */
const whole = (message: string, line?: number): ConfigResult => fail([line === undefined ? { path: '', message } : { path: '', message, line }])

/**
 * Parses and validates a configuration file's text (YAML or JSON). Every problem found is
 * reported at once; hostile text (huge, binary, deeply nested, alias bombs) is refused
 * before the parser spends memory on it.
 */
export function parseConfig (text: string): ConfigResult {
  const bytes = Buffer.byteLength(text)
  if (bytes > MAX_CONFIG_BYTES) return whole(`is ${bytes} bytes; a configuration is at most ${MAX_CONFIG_BYTES} bytes (1 MiB, what a ConfigMap holds)`)
  const control = CONTROL.exec(text)
  if (control !== null) {
    const code = text.charCodeAt(control.index).toString(16).padStart(4, '0').toUpperCase()
    return whole(`contains the control character U+${code}: not a YAML or JSON text`, lineAt(text, control.index))
  }
  const deep = yamlTooDeep(text, MAX_CONFIG_DEPTH)
  if (deep !== undefined) return whole(`nests deeper than ${MAX_CONFIG_DEPTH} levels`, deep.line)

  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    return fail(doc.errors.map((e) => ({
      path: '', message: e.message.split('\n')[0] ?? e.message, line: lineCounter.linePos(e.pos[0]).line,
    })))
  }
  let raw: unknown
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIASES })
  } catch (err) {
    // The yaml library refuses excessive aliases (a "billion laughs") with a ReferenceError.
    return whole(`cannot be read: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (raw === null || raw === undefined) {
    return whole('is empty: a configuration needs at least `targets` (write `targets: []` to inject nothing on purpose)')
  }
  const lineOf = (path: readonly string[]): number | undefined => {
    // The key of the field, else the deepest node that exists along the path (a missing field
    // points at its parent).
    const keys = path.map((s) => /^\d+$/.test(s) ? Number(s) : s)
    for (let n = path.length; n >= 0; n--) {
      const parent: unknown = n === 0 ? undefined : doc.getIn(keys.slice(0, n - 1), true)
      const pair = isMap(parent) ? parent.items.find((p) => isScalar(p.key) && p.key.value === keys[n - 1]) : undefined
      const start = rangeStart(pair?.key) ?? rangeStart(doc.getIn(keys.slice(0, n), true)) ?? (n === 0 ? rangeStart(doc.contents) : undefined)
      if (start !== undefined) return lineCounter.linePos(start).line
    }
    return undefined
  }
  return resolveConfig(raw, lineOf)
}

function lineAt (text: string, index: number): number {
  let line = 1
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++
  return line
}

function rangeStart (node: unknown): number | undefined {
  return isNode(node) ? (node.range as readonly number[] | null | undefined)?.[0] : undefined
}

/**
 * Validates an already parsed configuration object and applies the defaults. Schema errors
 * and the rules across fields are reported together, in one pass.
 * `lineOf` maps a field path to its line in the source, when the source has lines.
 */
export function resolveConfig (raw: unknown, lineOf: (path: readonly string[]) => number | undefined = () => undefined): ConfigResult {
  const issue = (path: readonly string[], msg: string): ConfigIssue => {
    const line = lineOf(path)
    return line === undefined ? { path: formatPath(path), message: msg } : { path: formatPath(path), message: msg, line }
  }
  if (!isRecord(raw)) return fail([issue([], 'must be a mapping of configuration fields')])
  const seen = new Set<string>()
  const issues: ConfigIssue[] = []
  const add = (path: readonly string[], msg: string): void => {
    const i = issue(path, msg)
    const key = `${i.path}\0${i.message}`
    if (!seen.has(key)) { seen.add(key); issues.push(i) }
  }
  for (const e of validate(raw)) {
    // anyOf reports each branch too; the anyOf line alone says it best.
    if (e.schemaPath.includes('/anyOf/') || e.keyword === 'propertyNames') continue
    const m = message(e)
    add(m.path, m.message)
  }
  for (const { path, message: msg } of [...crossCheck(raw), ...egressGatewayIssues(raw)]) add(path, msg)
  issues.sort((x, y) => (x.line ?? 0) - (y.line ?? 0))
  if (issues.length > 0) return fail(issues)
  return ok(deepFreeze(withDefaults(raw as RawConfig)))
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
  /** A duration, or 0, '0' or 'off' for none. */
  maxConnectionDuration?: string | 0
  origination?: Origination
}
interface RawConfig {
  injection?: InjectionMode
  mountRoot?: string
  annotationFormat?: AnnotationFormat
  routing?: Routing
  workloadSelector?: boolean
  meshRootNamespace?: string
  excludeNamespaces?: string[]
  egressGateway?: RawEgressGateway
  tlsStats?: boolean
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
    egressGateway: egressGatewayDefaults(raw.egressGateway),
    tlsStats: raw.tlsStats ?? false,
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
      ...maxConnectionDuration(t.maxConnectionDuration),
      origination: t.origination ?? 'sidecar',
    })),
  }
}

function maxConnectionDuration (written: string | 0 | undefined): { maxConnectionDuration?: string } {
  if (written === undefined) return { maxConnectionDuration: DEFAULT_MAX_CONNECTION_DURATION }
  return written === 0 || UNBOUNDED.includes(written) ? {} : { maxConnectionDuration: written }
}

const str = (v: unknown): string | undefined => typeof v === 'string' ? v : undefined
const int = (v: unknown, fallback: number): number | undefined => v === undefined ? fallback : Number.isInteger(v) ? v as number : undefined

/**
 * Rules a JSON Schema cannot say: unique names, hosts shared only as sharedHost allows,
 * reserved names, port clashes, durations as Go and Istio read them. Runs on the raw object, beside the schema, so that one
 * pass reports everything; a field of the wrong type is the schema's to report and is
 * skipped here.
 */
function crossCheck (raw: Record<string, unknown>): { path: string[], message: string }[] {
  const out: { path: string[], message: string }[] = []
  const names = new Map<string, number>()
  const hosts = new Map<string, number>()
  const targets = Array.isArray(raw['targets']) ? raw['targets'] as unknown[] : []
  targets.forEach((t, i) => {
    if (!isRecord(t)) return
    const at = (field: string): string[] => ['targets', String(i), field]
    const name = str(t['name'])
    if (name !== undefined) {
      const sameName = names.get(name)
      if (sameName !== undefined) out.push({ path: at('name'), message: `duplicates targets[${sameName}].name "${name}"` })
      else names.set(name, i)
      if (RESERVED_TARGET_NAMES.includes(name)) {
        out.push({ path: at('name'), message: `"${name}" is reserved (egress-mtls.io/${name} is a name egress-mtls uses itself)` })
      }
    }
    const host = str(t['host'])
    if (host !== undefined) {
      const sameHost = hosts.get(host)
      if (sameHost !== undefined) out.push(...sharedHost(raw, targets[sameHost] as Record<string, unknown>, sameHost, t, i, host))
      else hosts.set(host, i)
      if (/^[0-9]+$/.test(host.split('.').at(-1) ?? '')) out.push({ path: at('host'), message: 'must be a DNS name, not an IP address' })
    }
    const port = int(t['port'], 443)
    if (port !== undefined && port === int(t['plainPort'], 80)) out.push({ path: at('plainPort'), message: `must differ from port (${port})` })
    const namespaces = t['namespaces']
    if (Array.isArray(namespaces) && namespaces.includes('*') && namespaces.length > 1) {
      out.push({ path: at('namespaces'), message: '"*" (the whole mesh) must stand alone' })
    }
    const duration = str(t['maxConnectionDuration'])
    if (duration !== undefined && DURATION_RE.test(duration) && !UNBOUNDED.includes(duration)) {
      const problem = durationProblem(duration)
      if (problem !== undefined) out.push({ path: at('maxConnectionDuration'), message: problem })
    }
    if (t['verifyServerName'] === false && Array.isArray(t['subjectAltNames']) && t['subjectAltNames'].length > 0) {
      out.push({ path: at('verifyServerName'), message: 'false contradicts subjectAltNames (names to verify); remove one of them' })
    }
    const keys = isRecord(t['secretKeys']) ? t['secretKeys'] : {}
    const chosen = [str(keys['cert']) ?? 'cert', str(keys['key']) ?? 'key', str(keys['cacert']) ?? 'cacert']
    if (new Set(chosen).size !== chosen.length) out.push({ path: at('secretKeys'), message: 'cert, key and cacert must be three different keys' })
  })
  return out
}

const DURATION_RE = new RegExp(DURATION)

/**
 * Target `i` has the host of target `first` (docs/design.md "Istio resources", targets
 * sharing a host): allowed when each originates in its sidecar and its DestinationRule selects
 * its own workloads (workloadSelector, not mesh-wide), the two agree on what their shared
 * ServiceEntry carries (port, plainPort; routing and resolution are the configuration's) and
 * the shared objects' name fits.
 */
function sharedHost (
  raw: Record<string, unknown>,
  a: Record<string, unknown>, first: number,
  b: Record<string, unknown>, i: number,
  host: string,
): { path: string[], message: string }[] {
  const at = (field: string): string[] => ['targets', String(i), field]
  const other = `targets[${first}] (${str(a['name']) ?? '?'})`
  const atGateway = (t: Record<string, unknown>): boolean => t['origination'] === 'egressGateway'
  if (atGateway(a) || atGateway(b)) {
    return [{
      path: at(atGateway(b) ? 'origination' : 'host'),
      message: `shares host "${host}" with ${other}, but ${atGateway(b) ? 'this target' : other} has origination: egressGateway: at the shared egress gateway ` +
        'every call to a host leaves through one proxy, with one client certificate; give it a host of its own, or use origination: sidecar for both',
    }]
  }
  const meshWide = (t: Record<string, unknown>): boolean => Array.isArray(t['namespaces']) && t['namespaces'].includes('*')
  if (meshWide(a) || meshWide(b)) {
    const which = meshWide(b) ? 'this target is' : `${other} is`
    return [{
      path: at(meshWide(b) ? 'namespaces' : 'host'),
      message: `shares host "${host}" with ${other}, but ${which} mesh-wide (["*"]): its DestinationRule, without a workload selector, ` +
        'applies to every sidecar and would overlap the other\'s; give each mesh-wide target a host of its own',
    }]
  }
  if (raw['workloadSelector'] === false) {
    return [{ path: at('host'), message: `duplicates ${other}.host "${host}": targets may share a host only with workloadSelector: true (each DestinationRule then selects its own workloads)` }]
  }
  const out: { path: string[], message: string }[] = []
  for (const [field, fallback] of [['port', 443], ['plainPort', 80]] as const) {
    const mine = int(b[field], fallback)
    const theirs = int(a[field], fallback)
    if (mine !== undefined && theirs !== undefined && mine !== theirs) {
      out.push({ path: at(field), message: `is ${mine} but ${other}, of the same host "${host}", has ${theirs}: targets of one host share its ServiceEntry and must agree on port and plainPort` })
    }
  }
  if (host.length > MAX_SHARED_HOST_LENGTH) {
    out.push({ path: at('host'), message: `is shared with ${other} and longer than ${MAX_SHARED_HOST_LENGTH} characters: the shared ServiceEntry's name ${hostResourceName('<host>')} would exceed 253` })
  }
  return out
}

/** Go's largest duration is 2562047h47m16.854775807s; a whole number of hours below it. */
const MAX_DURATION = 2_562_047n * HOUR

/**
 * What kube-apiserver's CEL rule (`duration(self) >= duration('1ms')`, Go's parser) and
 * istiod's validation (at least 1ms, whole milliseconds) would refuse in a duration.
 */
function durationProblem (text: string): string | undefined {
  const ns = parseGoDuration(text)
  if (ns === undefined || ns > MAX_DURATION) return 'must be at most 2562047h (the largest duration Go, hence Kubernetes and Istio, can hold)'
  if (ns < MILLISECOND) return 'must be at least 1ms (Istio rejects shorter durations)'
  if (ns % MILLISECOND !== 0n) return 'must be a whole number of milliseconds (Istio supports durations to ms precision only)'
  return undefined
}

/** The targets available to workloads of a namespace, in configuration order. */
export function targetsForNamespace (config: Config, namespace: string): Target[] {
  return config.targets.filter((t) => t.namespaces.includes('*') || t.namespaces.includes(namespace))
}

/**
 * `targets` grouped by host, in the order each host first appears; a group of two or more is
 * a host those targets share (each presents its own certificate to it, to its own workloads).
 */
export function byHost (targets: readonly Target[]): Target[][] {
  const groups = new Map<string, Target[]>()
  for (const t of targets) {
    const group = groups.get(t.host)
    if (group === undefined) groups.set(t.host, [t])
    else group.push(t)
  }
  return [...groups.values()]
}
