import type { RenderOptions, Io } from './options.ts'
import { operationError } from '../errors.ts'

// Placeholder until the render command lands (being built in this session).
export function run (_options: RenderOptions, _io: Io): Promise<number> {
  return Promise.reject(operationError('render: not available yet'))
}
