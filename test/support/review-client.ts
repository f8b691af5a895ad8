// A keep-alive HTTPS client for POST /mutate, and the check of what the webhook answers.
import type { IncomingHttpHeaders } from 'node:http'
import { Agent, request } from 'node:https'

import { parseReview } from '../../src/core/admission/admission-review.ts'
import { applyPatch } from '../../src/core/admission/apply-patch.ts'
import type { PatchOperation } from '../../src/core/admission/mutate.ts'
import { isRecord } from '../../src/core/base/json.ts'
import { BODY_LIMIT } from '../../src/server/body-budget.ts'

export interface Answer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

export function keepAliveAgent (ca: string, maxSockets = 8): Agent {
  return new Agent({ keepAlive: true, maxSockets, ca, minVersion: 'TLSv1.2' })
}

/** POST a body to /mutate; rejects only on transport errors and after `timeoutMs`. */
export function post (agent: Agent, port: number, body: string | Buffer, contentType = 'application/json', timeoutMs = 30_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path: '/mutate', method: 'POST', agent, timeout: timeoutMs,
      headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }) })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end(body)
  })
}

const MAX_BODY = BODY_LIMIT
const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test'])

function parsed (text: string): unknown {
  try { return JSON.parse(text) } catch { return undefined }
}

/**
 * What is wrong with the webhook's answer to `sent` (the raw body), or undefined when it
 * is right: a well-formed AdmissionReview is answered 200 with a valid review (uid
 * echoed, `allowed` boolean, a base64 JSON Patch that applies to the object, a message
 * when denied); anything else gets a 4xx. Never a 5xx.
 */
export function answerProblem (sent: string | Buffer, answer: Answer, contentType = 'application/json'): string | undefined {
  const size = Buffer.byteLength(sent)
  const input = size > MAX_BODY ? undefined : parsed(typeof sent === 'string' ? sent : sent.toString('utf8'))
  const envelope = parseReview(input)
  const json = contentType.split(';', 1)[0]!.trim().toLowerCase() === 'application/json'
  const wellFormed = json && size <= MAX_BODY && envelope.ok
  if (!wellFormed) {
    return answer.status >= 400 && answer.status < 500 ? undefined : `malformed input answered ${answer.status}: ${answer.body.slice(0, 300)}`
  }
  if (answer.status !== 200) return `well-formed review answered ${answer.status}: ${answer.body.slice(0, 300)}`
  const review = parsed(answer.body)
  if (!isRecord(review)) return `answer is not a JSON object: ${answer.body.slice(0, 300)}`
  if (review['kind'] !== 'AdmissionReview' || review['apiVersion'] !== envelope.value.apiVersion) return `answer is not an AdmissionReview ${envelope.value.apiVersion}: ${answer.body.slice(0, 300)}`
  const response = review['response']
  if (!isRecord(response)) return 'answer has no response'
  if (response['uid'] !== envelope.value.request.uid) return `uid ${JSON.stringify(response['uid'])} is not the request's ${JSON.stringify(envelope.value.request.uid)}`
  if (typeof response['allowed'] !== 'boolean') return 'response.allowed is not a boolean'
  if (!response['allowed']) {
    const status = response['status']
    if (!isRecord(status) || typeof status['message'] !== 'string' || status['message'] === '') return 'denied without status.message'
  }
  const warnings = response['warnings']
  if (warnings !== undefined && (!Array.isArray(warnings) || !warnings.every((w) => typeof w === 'string'))) return 'warnings is not a list of strings'
  const patch = response['patch']
  if (patch === undefined) return response['patchType'] === undefined ? undefined : 'patchType without patch'
  if (response['patchType'] !== 'JSONPatch') return `patchType ${JSON.stringify(response['patchType'])} is not JSONPatch`
  if (typeof patch !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(patch)) return 'patch is not base64'
  const ops = parsed(Buffer.from(patch, 'base64').toString('utf8'))
  if (!Array.isArray(ops) || !ops.every((o) => isRecord(o) && OPS.has(String(o['op'])) && typeof o['path'] === 'string')) return 'patch is not a JSON Patch'
  if (!response['allowed']) return 'denied with a patch'
  try {
    applyPatch(envelope.value.request.object, ops as PatchOperation[])
  } catch (err) {
    return `patch does not apply to the object: ${err instanceof Error ? err.message : String(err)}`
  }
  return undefined
}
