// Runs the egress-mtls CLI in this process (the real main(), real API calls), capturing its
// output; faster than a child process per command.
import { PassThrough, Readable } from 'node:stream'

import { main } from '../../src/cli/main.ts'

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** main(args) with `env` as its environment and `stdin` (default: none) as its standard input. */
export async function runCli (args: readonly string[], env: NodeJS.ProcessEnv = {}, stdin?: string): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const sink = (append: (s: string) => void): PassThrough => {
    const stream = new PassThrough()
    stream.setEncoding('utf8').on('data', append)
    return stream
  }
  const code = await main(args, {
    stdin: Readable.from(stdin === undefined ? [] : [stdin]),
    stdout: sink((s) => { stdout += s }),
    stderr: sink((s) => { stderr += s }),
    env,
  })
  return { code, stdout, stderr }
}
