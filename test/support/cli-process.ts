// The egress-mtls CLI from source as a child process (`node src/cli/main.ts`), with PATH as
// its only environment unless a test adds to it: its exit code and what it printed.
import { spawn } from 'node:child_process'

import { cliMain as MAIN } from './repo.ts'

export interface CliRun { readonly code: number | null, readonly stdout: string, readonly stderr: string }

export interface CliOptions {
  /** Written to the CLI's stdin, which is then closed (default: closed at once). */
  readonly stdin?: string | Buffer | undefined
  /** Variables beside PATH. */
  readonly env?: NodeJS.ProcessEnv | undefined
  /** Node's own options, before the script (e.g. --max-old-space-size=128). */
  readonly nodeOptions?: readonly string[]
}

export function cliProcess (args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...options.nodeOptions ?? [], MAIN, ...args], { env: { PATH: process.env['PATH'], ...options.env } })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    child.on('error', reject)
    child.on('close', (code) => { resolve({ code, stdout, stderr }) })
    child.stdin.on('error', () => undefined) // the CLI may stop reading early
    child.stdin.end(options.stdin)
  })
}
