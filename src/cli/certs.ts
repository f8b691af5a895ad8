import type { CertsOptions, Io } from './options.ts'
import { operationError } from '../errors.ts'

// Placeholder until the certs command lands (being built in this session).
export function run (_options: CertsOptions, _io: Io): Promise<number> {
  return Promise.reject(operationError('certs: not available yet'))
}
