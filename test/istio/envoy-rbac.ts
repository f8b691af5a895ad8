// Envoy's RBAC filter (envoy.filters.http.rbac) evaluated on one request, for the matchers
// Istio generates from an AuthorizationPolicy: permissions and principals as Envoy's
// rbac.v3 defines them. Any matcher it does not know throws, so that a policy it cannot
// read fails a test instead of passing it.

/** What the RBAC filter sees of a request. */
export interface Request {
  /** The peer's SPIFFE identity (mTLS), or '' for none. */
  readonly principal: string
  /** The :authority (Host) header. */
  readonly authority: string
  /** The TLS server name of the connection. */
  readonly sni: string
}

type Json = Record<string, unknown>
const obj = (v: unknown): Json => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`not an object: ${JSON.stringify(v)}`)
  return v as Json
}
const list = (v: unknown): unknown[] => {
  if (!Array.isArray(v)) throw new Error(`not a list: ${JSON.stringify(v)}`)
  return v
}

/** envoy.type.matcher.v3.StringMatcher. */
export function stringMatches (m: Json, value: string): boolean {
  const ic = m['ignore_case'] === true
  const v = ic ? value.toLowerCase() : value
  const s = (k: string): string => { const x = String(m[k]); return ic ? x.toLowerCase() : x }
  if ('exact' in m) return v === s('exact')
  if ('prefix' in m) return v.startsWith(s('prefix'))
  if ('suffix' in m) return v.endsWith(s('suffix'))
  if ('contains' in m) return v.includes(s('contains'))
  if ('safe_regex' in m) return new RegExp(`^(?:${String(obj(m['safe_regex'])['regex'])})$`).test(value)
  throw new Error(`unknown string matcher ${JSON.stringify(m)}`)
}

function headerMatches (h: Json, r: Request): boolean {
  const name = String(h['name'])
  const value = name === ':authority' || name === 'host' ? r.authority : undefined
  if (value === undefined) throw new Error(`header ${name}: not modelled`)
  let result: boolean
  if ('string_match' in h) result = stringMatches(obj(h['string_match']), value)
  else if (h['present_match'] === true) result = true
  else throw new Error(`unknown header matcher ${JSON.stringify(h)}`)
  return h['invert_match'] === true ? !result : result
}

export function permissionMatches (p: Json, r: Request): boolean {
  if (p['any'] === true) return true
  if ('and_rules' in p) return list(obj(p['and_rules'])['rules']).every((x) => permissionMatches(obj(x), r))
  if ('or_rules' in p) return list(obj(p['or_rules'])['rules']).some((x) => permissionMatches(obj(x), r))
  if ('not_rule' in p) return !permissionMatches(obj(p['not_rule']), r)
  if ('header' in p) return headerMatches(obj(p['header']), r)
  if ('requested_server_name' in p) return stringMatches(obj(p['requested_server_name']), r.sni)
  throw new Error(`unknown permission ${JSON.stringify(p)}`)
}

export function principalMatches (p: Json, r: Request): boolean {
  if (p['any'] === true) return true
  if ('and_ids' in p) return list(obj(p['and_ids'])['ids']).every((x) => principalMatches(obj(x), r))
  if ('or_ids' in p) return list(obj(p['or_ids'])['ids']).some((x) => principalMatches(obj(x), r))
  if ('not_id' in p) return !principalMatches(obj(p['not_id']), r)
  if ('authenticated' in p) {
    // Envoy: no peer certificate, no match.
    if (r.principal === '') return false
    const m = obj(p['authenticated'])['principal_name']
    return m === undefined ? true : stringMatches(obj(m), r.principal)
  }
  if ('filter_state' in p) {
    // A waypoint's: the peer's identity from the HBONE connection, in filter state.
    const fs = obj(p['filter_state'])
    if (fs['key'] !== 'io.istio.peer_principal' || !('string_match' in fs)) throw new Error(`filter state not modelled: ${JSON.stringify(fs)}`)
    return r.principal !== '' && stringMatches(obj(fs['string_match']), r.principal)
  }
  throw new Error(`unknown principal ${JSON.stringify(p)}`)
}

/** The names of the policies of `rbac` (an RBAC filter's typed_config) that match `r`. */
export function matchingPolicies (rbac: Json, r: Request): string[] {
  const rules = rbac['rules'] === undefined ? {} : obj(rbac['rules'])
  const policies = rules['policies'] === undefined ? {} : obj(rules['policies'])
  return Object.entries(policies).filter(([, p]) => {
    const policy = obj(p)
    return list(policy['permissions']).some((x) => permissionMatches(obj(x), r)) && list(policy['principals']).some((x) => principalMatches(obj(x), r))
  }).map(([name]) => name)
}

/** The action of an RBAC filter: ALLOW (Envoy's default), DENY, LOG. */
export function rbacAction (rbac: Json): string {
  const action = (rbac['rules'] === undefined ? {} : obj(rbac['rules']))['action']
  return typeof action === 'string' ? action : 'ALLOW'
}
