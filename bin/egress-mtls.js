#!/usr/bin/env node
// The CLI's entry point. First the Node.js version, in syntax and APIs every Node has, so
// an older Node fails with one line instead of a crash deep in a command. Then the program:
// in a checkout its TypeScript sources (Node 24 runs them as they are, so no build step
// and never a stale build); installed (npm pack, the image), the compiled dist/.
const major = Number(process.versions.node.split('.')[0])
if (!(major >= 24)) {
  process.stderr.write(`egress-mtls needs Node.js >= 24, this is ${process.version}\n`)
  process.exit(2)
}
const { existsSync } = await import('node:fs')
const source = new URL('../src/cli/main.ts', import.meta.url)
const { runProcess } = await import(existsSync(source) ? source.href : '../dist/cli/main.js')

await runProcess(process.argv.slice(2))
