// An AdmissionReview body (UTF-8 bytes) to JSON, with request.oldObject and
// request.object.metadata.managedFields checked but not built: egress-mtls never reads them,
// and in an UPDATE they are about two thirds of the body. Pure.
import { randomUUID } from 'node:crypto'

import { isRecord } from '../base/json.ts'
import { depthClosed, jsonValueEnd } from '../base/json-scan.ts'
import { fail, ok, type Result } from '../base/result.ts'

const OLD_OBJECT_KEY = Buffer.from('"oldObject":')
const MANAGED_FIELDS_KEY = Buffer.from('"managedFields":')

/** What request.oldObject and request.object.metadata.managedFields hold once their JSON text has been checked and left unparsed. */
export const UNPARSED = 'egress-mtls: checked as JSON, not parsed'
const UNPARSED_JSON = JSON.stringify(UNPARSED)
/**
 * Put in place of the first managedFields' value for the parse: no body can carry it (a
 * random UUID of this process, never answered or logged), so finding it at
 * request.object.metadata.managedFields afterwards proves that the value left out was that one.
 */
const MARK = `${UNPARSED} ${randomUUID()}`
const MARK_JSON = JSON.stringify(MARK)

/** A shorter oldObject (null, a CREATE's) is parsed with the rest: checking it apart would not pay. */
const MIN_UNPARSED = 256

/**
 * The JSON value of a body, or that it is not JSON. Exactly JSON.parse's verdict on the
 * decoded text, and its value but for request.oldObject, whose value is only checked
 * (json-scan.ts) and replaced by UNPARSED. kube-apiserver writes oldObject after object, as
 * the last member of the request but the dry run and the options: the last `"oldObject":` of
 * the body is found, its value checked, and the rest parsed with UNPARSED in its place. That
 * key is request.oldObject when it stands two levels deep (the last key of its name wins in
 * JSON.parse); any other member two levels deep is not under request and never read. Deeper
 * (another writer, another key order: a key of that name inside object), the whole body is
 * parsed. Before oldObject, request.object.metadata.managedFields (kube-apiserver writes object
 * first, and its metadata before spec and status) is left out too when the first
 * `"managedFields":` of the body is that one: see withoutManagedFields().
 */
export function reviewBodyJson (bytes: Buffer): Result<unknown> {
  const key = lastKey(bytes)
  if (key !== -1) {
    const start = key + OLD_OBJECT_KEY.length
    const end = jsonValueEnd(bytes, start)
    if (end - start >= MIN_UNPARSED && depthClosed(bytes, end) === 2) {
      const body = withoutManagedFields(bytes, key, start, end) ??
        parsed(bytes.toString('utf8', 0, start) + UNPARSED_JSON + bytes.toString('utf8', end))
      if (body !== NOT_JSON) return ok(body)
    }
  }
  const body = parsed(bytes.toString('utf8'))
  return body === NOT_JSON ? fail('body is not valid JSON') : ok(body)
}

/** The key's rarest byte in Kubernetes objects, `j`, and its place in the key. */
const RARE = 0x6a
const RARE_AT = OLD_OBJECT_KEY.indexOf(RARE)
/** Candidates tried before the search of the whole key takes over: a bound on the work of a body full of `j`. */
const MAX_CANDIDATES = 16

/**
 * Where the last `"oldObject":` starts, or -1. Buffer.lastIndexOf of the 12-byte key costs
 * about 3.6 µs over the 9.7 KB after it in (a)'s body; a search for one byte (memrchr) is
 * many times cheaper, so the last few `j`s are tried as the key's before the whole key is
 * searched for in what is left.
 */
function lastKey (bytes: Buffer): number {
  let before = bytes.length
  for (let tries = 0; tries < MAX_CANDIDATES; tries++) {
    // lastIndexOf reads a negative offset from the end: no `j` before the start is none.
    const rare = before === 0 ? -1 : bytes.lastIndexOf(RARE, before - 1)
    if (rare === -1) return -1
    const key = rare - RARE_AT
    if (key >= 0 && keyAt(bytes, key)) return key
    before = rare
  }
  // Every key that starts later holds one of the `j`s already tried.
  const last = before - 1 - RARE_AT
  return last < 0 ? -1 : bytes.lastIndexOf(OLD_OBJECT_KEY, last)
}

function keyAt (bytes: Buffer, at: number): boolean {
  if (at + OLD_OBJECT_KEY.length > bytes.length) return false
  for (let k = 0; k < OLD_OBJECT_KEY.length; k++) if (bytes[at + k] !== OLD_OBJECT_KEY[k]) return false
  return true
}

/**
 * The body parsed with both oldObject's value (from `start` to `end`; its key at `key`) and
 * the first managedFields' value before it left out, if that one is
 * request.object.metadata.managedFields; else undefined (the caller parses without it). Its
 * value is checked (json-scan.ts) and MARK parsed in its place: JSON.parse's verdict holds
 * (one JSON value swapped for another), and MARK found at request.object.metadata.managedFields
 * says that the value left out was that one and nothing else differs.
 */
function withoutManagedFields (bytes: Buffer, key: number, start: number, end: number): unknown {
  const found = bytes.subarray(0, key).indexOf(MANAGED_FIELDS_KEY)
  if (found === -1) return undefined
  const from = found + MANAGED_FIELDS_KEY.length
  const to = jsonValueEnd(bytes, from)
  if (to === -1 || to > key || to - from < MIN_UNPARSED) return undefined
  const body = parsed(bytes.toString('utf8', 0, from) + MARK_JSON + bytes.toString('utf8', to, start) + UNPARSED_JSON + bytes.toString('utf8', end))
  if (body === NOT_JSON) return NOT_JSON
  const request = isRecord(body) ? body['request'] : undefined
  const object = isRecord(request) ? request['object'] : undefined
  const metadata = isRecord(object) ? object['metadata'] : undefined
  if (!isRecord(metadata) || metadata['managedFields'] !== MARK) return undefined
  metadata['managedFields'] = UNPARSED
  return body
}

const NOT_JSON = Symbol('not JSON')

function parsed (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return NOT_JSON
  }
}
