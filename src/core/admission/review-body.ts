// An AdmissionReview body (UTF-8 bytes) to JSON, with request.oldObject checked but not built:
// egress-mtls never reads it, and in an UPDATE it is about half of the body. Pure.
import { isRecord } from '../base/json.ts'
import { jsonValueEnd } from '../base/json-scan.ts'
import { fail, ok, type Result } from '../base/result.ts'

const OLD_OBJECT_KEY = Buffer.from('"oldObject":')

/**
 * What request.oldObject holds once its JSON text has been checked and left unparsed. A
 * string of control characters without a short escape: JSON can write it only as the text
 * below, so a body that does not contain that text cannot hold this value anywhere.
 */
export const UNPARSED = '\u0000\u0001\u0002'
const UNPARSED_JSON = '"\\u0000\\u0001\\u0002"'
const UNPARSED_BYTES = Buffer.from(UNPARSED_JSON)

/** A shorter oldObject (null, a CREATE's) is parsed with the rest: checking it apart would not pay. */
const MIN_UNPARSED = 256

/**
 * The JSON value of a body, or that it is not JSON. Exactly JSON.parse's verdict on the
 * decoded text, but the value of request.oldObject is only checked (json-scan.ts) and
 * replaced by UNPARSED. kube-apiserver writes oldObject after object, as the last but the
 * dry run and the options: the last `"oldObject":` of the body is found, its value checked,
 * and the rest parsed with UNPARSED in its place; if that did not land on request.oldObject
 * (another writer, another key order), the whole body is parsed.
 */
export function reviewBodyJson (bytes: Buffer): Result<unknown> {
  const key = bytes.lastIndexOf(OLD_OBJECT_KEY)
  if (key !== -1) {
    const start = key + OLD_OBJECT_KEY.length
    const end = jsonValueEnd(bytes, start)
    // Where the body held UNPARSED itself, request.oldObject might be that and not ours.
    if (end - start >= MIN_UNPARSED && bytes.subarray(0, start).indexOf(UNPARSED_BYTES) === -1 && bytes.subarray(end).indexOf(UNPARSED_BYTES) === -1) {
      const body = parsed(bytes.toString('utf8', 0, start) + UNPARSED_JSON + bytes.toString('utf8', end))
      if (isRecord(body) && isRecord(body['request']) && body['request']['oldObject'] === UNPARSED) return ok(body)
    }
  }
  const body = parsed(bytes.toString('utf8'))
  return body === NOT_JSON ? fail('body is not valid JSON') : ok(body)
}

const NOT_JSON = Symbol('not JSON')

function parsed (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return NOT_JSON
  }
}
