import type { InjectOptions, Io } from './options.ts'
import { operationError } from '../errors.ts'

// Placeholder until the inject command lands (being built in this session).
export function run (_options: InjectOptions, _io: Io): Promise<number> {
  return Promise.reject(operationError('inject: not available yet'))
}
