// Runs the egress-mtls CLI in this process (the real main(), real API calls), capturing its
// output; faster than a child process per command.
import { Readable, Writable } from 'node:stream'

import { main } from '../../src/cli/main.ts'

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export async function runCli (args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const sink = (append: (s: string) => void): Writable => new Writable({
    write (chunk: Buffer | string, _encoding, callback) { append(String(chunk)); callback() },
  })
  const code = await main(args, {
    stdin: Readable.from([]),
    stdout: sink((s) => { stdout += s }),
    stderr: sink((s) => { stderr += s }),
    env,
  })
  return { code, stdout, stderr }
}
