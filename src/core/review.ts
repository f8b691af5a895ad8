// Placeholder: the injection decision (admit) is being written in this session.
import type { AdmissionRequest, AdmissionResponse } from './admission.ts'
import type { Config } from './config.ts'

export type Result = 'injected' | 'unchanged' | 'skipped' | 'denied' | 'error'

export interface PatchOperation {
  readonly op: 'add' | 'remove' | 'replace' | 'test'
  readonly path: string
  readonly value?: unknown
}

export interface Admission {
  readonly response: AdmissionResponse
  readonly result: Result
  readonly patch: readonly PatchOperation[]
}

export function admit (request: AdmissionRequest, _config: Config): Admission {
  return { response: { uid: request.uid, allowed: true }, result: 'skipped', patch: [] }
}
