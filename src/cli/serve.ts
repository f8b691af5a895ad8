import type { ServeOptions, Io } from './options.ts'
import { operationError } from '../errors.ts'

// Placeholder until the serve command lands (being built in this session).
export function run (_options: ServeOptions, _io: Io): Promise<number> {
  return Promise.reject(operationError('serve: not available yet'))
}
