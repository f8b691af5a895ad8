// The npm package: `npm pack` (its prepack script compiles dist/ afresh) gives a tarball that
// installs into an empty directory outside the repository and runs there: `npx egress-mtls
// --version` and `render`, the same output as the sources give.
//
// The install is offline, from npm's cache (which `npm ci` filled), with the versions of
// package-lock.json: a lockfile beside the empty project names the tarball and the
// lockfile's production packages, and `npm ci --offline` installs them. No test traffic
// leaves the machine; `npm install ./egress-mtls-<version>.tgz` with a registry does the same
// resolution from the ranges in package.json.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { after, before, test } from 'node:test'

import { VERSION } from '../../src/version.ts'
import { repoRoot as repo } from '../support/repo.ts'
import { type Run, run as runCommand } from '../support/run.ts'

const node24 = join(repo, 'node_modules', '.bin', 'node')
const tarballName = `egress-mtls-${VERSION}.tgz`

/** Node 24 first on PATH (the installed bin's `#!/usr/bin/env node`), no NODE_PATH or NODE_OPTIONS. */
const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env['PATH'] ?? ''}` }
delete env['NODE_PATH']
delete env['NODE_OPTIONS']
const run = (cmd: string, args: readonly string[], cwd: string, timeoutMs = 120_000): Promise<Run> =>
  runCommand(cmd, args, { cwd, env, timeoutMs })

interface LockEntry { dev?: boolean, [k: string]: unknown }
interface Pkg {
  version: string
  license: string
  dependencies: Record<string, string>
  bin: Record<string, string>
  engines: Record<string, string>
}

let work = ''
let project = ''
let packed: string[] = []

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'egress-mtls-npm-package-'))
  const t0 = Date.now()
  const pack = await run('npm', ['pack', '--json', '--pack-destination', work], repo, 300_000)
  assert.equal(pack.code, 0, `npm pack failed:\n${pack.stderr}`)
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string, files: { path: string }[] }[]
  assert.ok(info !== undefined)
  assert.equal(info.filename, tarballName)
  packed = info.files.map((f) => f.path).sort()

  project = join(work, 'project')
  await mkdir(project)
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Pkg
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const tarball = `file:../${tarballName}`
  const packages: Record<string, unknown> = {
    '': { name: 'project', dependencies: { 'egress-mtls': tarball } },
    'node_modules/egress-mtls': { version: pkg.version, resolved: tarball, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  }
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && entry.dev !== true) packages[path] = entry
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'project', private: true, dependencies: { 'egress-mtls': tarball } }))
  await writeFile(join(project, 'package-lock.json'), JSON.stringify({ name: 'project', lockfileVersion: 3, requires: true, packages }))
  const install = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], project, 300_000)
  assert.equal(install.code, 0, `npm ci --offline of the tarball failed (npm's cache is filled by the repository's own npm ci):\n${install.stderr}`)
  process.stderr.write(`[npm-package] packed and installed in ${Date.now() - t0} ms\n`)
}, { timeout: 600_000 })

after(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true })
})

test('the tarball carries the compiled program, its entry point, the docs and the example, and no sources or tests', () => {
  for (const f of ['package.json', 'README.md', 'LICENSE', 'bin/egress-mtls.js', 'dist/cli/main.js', 'dist/version.js', 'docs/design.md', 'examples/config.yaml']) {
    assert.ok(packed.includes(f), `${f} is not in the tarball: ${packed.join(' ')}`)
  }
  assert.deepEqual(packed.filter((f) => !/^(bin|dist|docs|examples)\//.test(f) && !['package.json', 'README.md', 'LICENSE'].includes(f)), [])
  assert.ok(!packed.some((f) => f.endsWith('.ts')), 'no TypeScript')
  // dist/ may also hold what scripts/build-image.sh wrote there (the image archive): only the compiled program is packed.
  assert.deepEqual(packed.filter((f) => f.startsWith('dist/') && !f.endsWith('.js')), [])
})

test('npx egress-mtls --version prints the package version, outside the repository', async () => {
  const r = await run('npx', ['--offline', 'egress-mtls', '--version'], project)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, `${VERSION}\n`)
})

test('npx egress-mtls render gives what the sources give', async () => {
  const config = join(project, 'node_modules', 'egress-mtls', 'examples', 'config.yaml')
  const installed = await run('npx', ['--offline', 'egress-mtls', 'render', '--config', config], project)
  assert.equal(installed.code, 0, installed.stderr)
  const fromSource = await run(node24, [join(repo, 'src', 'cli', 'main.ts'), 'render', '--config', join(repo, 'examples', 'config.yaml')], repo)
  assert.equal(fromSource.code, 0, fromSource.stderr)
  assert.match(installed.stdout, /kind: ServiceEntry/)
  assert.equal(installed.stdout, fromSource.stdout)
})

test('the installed CLI exits 2 on a bad configuration, naming the file', async () => {
  const bad = join(work, 'bad.yaml')
  await writeFile(bad, 'targets:\n  - name: x\n    host: NOT A HOST\n    namespaces: [a]\n')
  const r = await run('npx', ['--offline', 'egress-mtls', 'render', '--config', bad], project)
  assert.equal(r.code, 2, r.stderr)
  assert.match(r.stderr, /bad\.yaml:3/)
})
