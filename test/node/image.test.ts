// The image built without a container engine (scripts/build-image.sh) agrees with the
// Dockerfile's runtime stage: its config (user, workdir, environment, ports, entrypoint,
// cmd) is read from the archive and compared with the Dockerfile's instructions; its root
// file system holds /app as scripts/build-runtime.sh assembles it, owned by root, Node 24
// at the entrypoint's path, the Debian packages of distroless, nonroot in /etc/passwd and
// no shell; and, unpacked, it runs as uid 65532 with nothing from the host.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'

import { packageVersion as version, repoRoot as repo } from '../support/repo.ts'
import { run } from '../support/run.ts'

interface Descriptor { digest: string, annotations?: Record<string, string> }
interface ImageConfig {
  User?: string
  WorkingDir?: string
  Env?: string[]
  ExposedPorts?: Record<string, unknown>
  Entrypoint?: string[]
  Cmd?: string[]
}

let work = ''
let archive = ''
let config: ImageConfig = {}
/** path (no leading slash) -> `tar -tv` line of the last layer that has it */
const files = new Map<string, { mode: string, owner: string }>()

async function tar (...args: string[]): Promise<string> {
  const r = await run('tar', args, { timeoutMs: 120_000 })
  assert.equal(r.code, 0, `tar ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

const blob = (digest: string): string => join(work, 'layout', 'blobs', ...digest.split(':'))

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'egress-mtls-image-'))
  archive = join(work, 'egress-mtls.oci.tar')
  const t0 = Date.now()
  const built = await run('bash', [join(repo, 'scripts', 'build-image.sh'), archive], { cwd: repo, timeoutMs: 900_000 })
  assert.equal(built.code, 0, `scripts/build-image.sh failed:\n${built.stderr}`)
  process.stderr.write(`[image] built or taken from the cache in ${Date.now() - t0} ms\n`)
  await mkdir(join(work, 'layout'))
  await tar('-xf', archive, '-C', join(work, 'layout'))
  const index = JSON.parse(readFileSync(join(work, 'layout', 'index.json'), 'utf8')) as { manifests: Descriptor[] }
  assert.equal(index.manifests.length, 1)
  const desc = index.manifests[0]!
  assert.equal(desc.annotations?.['org.opencontainers.image.ref.name'], version, 'the tag is package.json\'s version')
  const manifest = JSON.parse(readFileSync(blob(desc.digest), 'utf8')) as { config: Descriptor, layers: Descriptor[] }
  config = (JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as { config: ImageConfig }).config
  for (const layer of manifest.layers) {
    const listing = await tar('--numeric-owner', '-tvzf', blob(layer.digest))
    for (const line of listing.split('\n')) {
      const m = /^(\S+) (\d+\/\d+)\s+\d+ \S+ \S+ (.+?)(?: -> .*)?$/.exec(line)
      if (m === null) continue
      files.set(m[3]!.replace(/^\.?\//, '').replace(/\/$/, ''), { mode: m[1]!, owner: m[2]! })
    }
  }
}, { timeout: 900_000 })

after(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true })
})

/** The Dockerfile's last stage: instruction -> arguments (JSON arrays parsed). */
function runtimeStage (): Map<string, string[]> {
  const text = readFileSync(join(repo, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ')
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  const from = lines.findLastIndex((l) => /^FROM\s/i.test(l))
  const stage = new Map<string, string[]>()
  for (const l of lines.slice(from + 1)) {
    const m = /^(\w+)\s+(.*)$/.exec(l)
    if (m === null) continue
    const args = m[2]!.startsWith('[') ? JSON.parse(m[2]!) as string[] : m[2]!.split(/\s+/)
    const key = m[1]!.toUpperCase()
    stage.set(key, [...(stage.get(key) ?? []), ...args])
  }
  return stage
}

test('the image config is the Dockerfile runtime stage\'s: user, workdir, env, ports, entrypoint, cmd', () => {
  const stage = runtimeStage()
  assert.deepEqual(stage.get('USER'), [config.User])
  assert.equal(config.User, '65532:65532')
  assert.deepEqual(stage.get('WORKDIR'), [config.WorkingDir])
  assert.deepEqual(stage.get('ENTRYPOINT'), config.Entrypoint)
  assert.deepEqual(stage.get('CMD'), config.Cmd)
  for (const env of stage.get('ENV') ?? []) assert.ok(config.Env?.includes(env), `ENV ${env} is missing from ${JSON.stringify(config.Env)}`)
  assert.deepEqual((stage.get('EXPOSE') ?? []).map((p) => `${p}/tcp`).sort(), Object.keys(config.ExposedPorts ?? {}).sort())
  // COPY --from=build --chown=0:0 /app /app: the tree of scripts/build-runtime.sh, root's.
  const copy = stage.get('COPY') ?? []
  assert.ok(copy.includes('--chown=0:0') && copy.at(-1) === '/app', `COPY ${copy.join(' ')}`)
})

test('the root file system: /app from build-runtime.sh owned by root, Node 24 at the entrypoint, no shell', () => {
  const entry = (config.Entrypoint ?? [])[0] ?? ''
  const node = files.get(entry.slice(1))
  assert.ok(node?.mode.startsWith('-rwx') === true, `${entry} is an executable file`)
  const app = [...files.keys()].filter((f) => f === 'app' || f.startsWith('app/'))
  assert.deepEqual([...new Set(app.map((f) => f.split('/')[1]).filter((f) => f !== undefined))].sort(),
    ['bin', 'dist', 'node_modules', 'package.json'])
  for (const f of ['app/bin/egress-mtls.js', 'app/dist/cli/main.js', 'app/node_modules/fastify/package.json']) assert.ok(files.has(f), f)
  assert.ok(!files.has('app/node_modules/typescript'), 'no dev dependencies')
  const notRoot = app.filter((f) => files.get(f)?.owner !== '0/0')
  assert.deepEqual(notRoot, [], 'everything in /app belongs to root')
  const shells = [...files.entries()]
    .filter(([f, { mode }]) => !mode.startsWith('d') && /(^|\/)(sh|bash|dash|ash|busybox|apt|apt-get|dpkg)$/.test(f))
    .map(([f]) => f)
  assert.deepEqual(shells, [], 'no shell, no package manager')
  assert.equal(files.get('tmp')?.mode, 'drwxrwxrwt')
  assert.equal(files.get('home/nonroot')?.owner, '65532/65532')
})

test('the Debian packages of distroless are recorded for scanners and their libraries are there', () => {
  const status = [...files.keys()].filter((f) => f.startsWith('var/lib/dpkg/status.d/')).map((f) => f.split('/').at(-1)).sort()
  assert.deepEqual(status, ['ca-certificates', 'libc6', 'libgcc-s1', 'libstdc++6', 'tzdata'])
  for (const f of ['lib64/ld-linux-x86-64.so.2', 'etc/ssl/certs/ca-certificates.crt', 'usr/share/zoneinfo/Europe/Paris']) {
    assert.ok(files.has(f), f)
  }
  assert.ok([...files.keys()].some((f) => /^(usr\/)?lib\/x86_64-linux-gnu\/libstdc\+\+\.so\.6$/.test(f)), 'libstdc++.so.6')
})

test('unpacked, the image runs the CLI as uid 65532 with nothing from the host', { skip: process.getuid?.() !== 0 ? 'chroot needs root' : false }, async () => {
  const rootfs = join(work, 'rootfs')
  await mkdir(rootfs)
  const manifest = JSON.parse(readFileSync(blob((JSON.parse(readFileSync(join(work, 'layout', 'index.json'), 'utf8')) as { manifests: Descriptor[] }).manifests[0]!.digest), 'utf8')) as { layers: Descriptor[] }
  for (const layer of manifest.layers) await tar('--numeric-owner', '-xzpf', blob(layer.digest), '-C', rootfs)
  const r = await run('chroot', ['--userspec=65532:65532', rootfs, ...(config.Entrypoint ?? []), 'render', '--config', '/app/config.yaml'], { timeoutMs: 60_000 })
  // No configuration file in the image: the CLI itself says so (exit 2), proving Node, its
  // libraries and /app work inside the image alone.
  assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`)
  assert.match(r.stderr, /config\.yaml/)
  const help = await run('chroot', ['--userspec=65532:65532', rootfs, ...(config.Entrypoint ?? []), ...(config.Cmd ?? [])], { timeoutMs: 60_000 })
  assert.equal(help.code, 0, help.stderr)
  assert.match(help.stdout, /Usage: egress-mtls/)
})
