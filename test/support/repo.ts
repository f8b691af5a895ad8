// Where the repository is, and its version, for the tests and the benchmark that run its
// programs and read its files.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The repository root, with a trailing slash. */
export const repoRoot: string = fileURLToPath(new URL('../../', import.meta.url))

/** The CLI's entry point in the sources (`node src/cli/main.ts`). */
export const cliMain = `${repoRoot}src/cli/main.ts`

/** package.json's version: the chart's, the image tag's and `--version`'s. */
export const packageVersion: string = (JSON.parse(readFileSync(`${repoRoot}package.json`, 'utf8')) as { version: string }).version
