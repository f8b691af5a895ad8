// What the configuration's issues say: the schema's errors in words a user reads (each at
// its field's path, a misspelt field with its likely name), and a path as a user writes it.
// Pure.
import type { ErrorObject } from 'ajv'

import { isRecord, pointerTokens } from '../base/json.ts'
import { GATEWAY_PATTERN_MESSAGES } from './egress-gateway.ts'
import { DNS_LABEL, DNS_NAME, DURATION, SECRET_KEY } from './schema.ts'
import { closest } from './suggest.ts'

const PATTERN_MESSAGES: Readonly<Record<string, string>> = {
  [DNS_LABEL]: 'must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit)',
  [DNS_NAME]: 'must be a lowercase DNS name without wildcard (e.g. api.bank.example.com)',
  [SECRET_KEY]: 'must be a Secret key (letters, digits, "-", "_" and ".")',
  [DURATION]: 'must be a duration such as 1h, 30m or 1h30m, or off',
  '^/[^\\s:,"]*$': 'must be an absolute path without spaces, ":", "," or quotes',
  ...GATEWAY_PATTERN_MESSAGES,
}

/** One error of the schema validator as the field it is about and what is wrong with it. */
export function schemaMessage (e: ErrorObject): { path: string[], message: string } {
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

/** `targets[1].host` from ["targets", "1", "host"]. */
export function formatPath (path: readonly (string | number)[]): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number' || /^\d+$/.test(seg)) out += `[${seg}]`
    else out += out === '' ? seg : `.${seg}`
  }
  return out
}
