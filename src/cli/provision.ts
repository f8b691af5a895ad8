import type { ProvisionOptions, Io } from './options.ts'
import { operationError } from '../errors.ts'

// Placeholder until the provision command lands (being built in this session).
export function run (_options: ProvisionOptions, _io: Io): Promise<number> {
  return Promise.reject(operationError('provision: not available yet'))
}
