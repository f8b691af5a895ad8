// Where the repository is, for the tests and the benchmark that run its programs and read its files.
import { fileURLToPath } from 'node:url'

/** The repository root, with a trailing slash. */
export const repoRoot: string = fileURLToPath(new URL('../../', import.meta.url))
