import type { DoctorOptions, Io } from './options.ts'
import { operationError } from '../errors.ts'

// Placeholder until the doctor command lands (being built in this session).
export function run (_options: DoctorOptions, _io: Io): Promise<number> {
  return Promise.reject(operationError('doctor: not available yet'))
}
