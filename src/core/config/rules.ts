// The rules across fields a JSON Schema cannot say (unique names, shared hosts, reserved
// names, port clashes, durations as Go and Istio read them), on the raw object. Pure.
import { HOUR, MILLISECOND, parseGoDuration } from '../base/duration.ts'
import { isRecord } from '../base/json.ts'
import { hostResourceName, MAX_SHARED_HOST_LENGTH, RESERVED_TARGET_NAMES } from '../base/names.ts'
import { DURATION, UNBOUNDED } from './schema.ts'
import { waypointSharedHost } from './waypoint.ts'

const str = (v: unknown): string | undefined => typeof v === 'string' ? v : undefined
const int = (v: unknown, fallback: number): number | undefined => v === undefined ? fallback : Number.isInteger(v) ? v as number : undefined

/**
 * Rules a JSON Schema cannot say: unique names, hosts shared only as sharedHost allows,
 * reserved names, port clashes, durations as Go and Istio read them. Runs on the raw object, beside the schema, so that one
 * pass reports everything; a field of the wrong type is the schema's to report and is
 * skipped here.
 */
export function crossCheck (raw: Record<string, unknown>): { path: string[], message: string }[] {
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
  const viaWaypoint = waypointSharedHost(a, first, b, i, host)
  if (viaWaypoint !== undefined) return [viaWaypoint]
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
