// An AdmissionReview body (UTF-8 bytes) to JSON, with request.oldObject checked but not built:
// egress-mtls never reads it, and in an UPDATE it is about half of the body. Pure.
import { depthClosed, jsonValueEnd } from '../base/json-scan.ts'
import { fail, ok, type Result } from '../base/result.ts'

const OLD_OBJECT_KEY = Buffer.from('"oldObject":')

/** What request.oldObject holds once its JSON text has been checked and left unparsed. */
export const UNPARSED = 'egress-mtls: checked as JSON, not parsed'
const UNPARSED_JSON = JSON.stringify(UNPARSED)

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
 * parsed.
 */
export function reviewBodyJson (bytes: Buffer): Result<unknown> {
  const key = lastKey(bytes)
  if (key !== -1) {
    const start = key + OLD_OBJECT_KEY.length
    const end = jsonValueEnd(bytes, start)
    if (end - start >= MIN_UNPARSED && depthClosed(bytes, end) === 2) {
      const body = parsed(bytes.toString('utf8', 0, start) + UNPARSED_JSON + bytes.toString('utf8', end))
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

const NOT_JSON = Symbol('not JSON')

function parsed (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return NOT_JSON
  }
}
