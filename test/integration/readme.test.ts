// The README's local quick start runs as written: its blocks marked `sh try-locally`, in
// order, in a copy of the repository (its files as a clone has them: nothing built), with the user's PATH
// (no node_modules/.bin: `node` is whatever the system has) and nothing built. The set-up
// block `npm ci` is replaced by a link to the installed node_modules (the same lockfile);
// `npm start`, which serves until stopped, runs in the background as the README's second
// terminal has it, and is stopped at the end.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'
import { after, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import { repoRoot } from '../support/repo.ts'

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
const blocks = [...readme.matchAll(/^```sh try-locally\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '')

const copy = mkdtempSync(join(tmpdir(), 'egress-mtls-readme-'))
// What a clone holds: no installed or built trees, no git metadata (as .ci/run copies it).
const NOT_IN_A_CLONE = new Set(['.git', 'node_modules', 'dist', '.e2e', 'coverage'])
cpSync(repoRoot, copy, { recursive: true, filter: (f) => !NOT_IN_A_CLONE.has(relative(repoRoot, f).split(sep)[0] ?? '') })
const env = { ...process.env, PATH: (process.env['PATH'] ?? '').split(':').filter((d) => !d.includes('node_modules')).join(':') }
for (const k of Object.keys(env)) if (k.startsWith('npm_')) Reflect.deleteProperty(env, k) // not inside an npm script

let server: ReturnType<typeof spawn> | undefined
after(async () => {
  if (server?.pid !== undefined && server.exitCode === null) {
    const exited = new Promise((resolve) => server?.once('exit', resolve))
    process.kill(-server.pid, 'SIGTERM')
    await Promise.race([exited, sleep(30_000)])
  }
  rmSync(copy, { recursive: true, force: true })
})

function run (block: string): { code: number, stdout: string, stderr: string } {
  try {
    const stdout = execFileSync('bash', ['-euo', 'pipefail', '-c', block], { cwd: copy, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 })
    return { code: 0, stdout, stderr: '' }
  } catch (e) {
    const err = e as { status: number | null, stdout: string, stderr: string }
    return { code: err.status ?? -1, stdout: err.stdout, stderr: err.stderr }
  }
}

async function ready (url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      if ((await fetch(url)).ok) return
    } catch { /* not yet */ }
    if (Date.now() > deadline) assert.fail(`${url} not ready after ${ms} ms`)
    await sleep(200)
  }
}

test('the README marks its local path: set-up, preview, webhook, a review sent to it', () => {
  assert.deepEqual(blocks.map((b) => (b.split('\n')[0] ?? '').replace(/#.*/, '').trim().split(/\s+/).slice(0, 3).join(' ')), [
    'npm ci', 'npx egress-mtls inject', 'npm start', 'curl -sk https://127.0.0.1:8443/mutate',
  ])
  assert.ok(!/^```/m.test(blocks.join('')))
})

test('the set-up: npm ci (here: the installed node_modules, linked)', () => {
  assert.equal(blocks[0]?.trim(), 'npm ci')
  symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'))
})

test('the offline preview, without a build: inject of the example Deployment, render, doctor on the file', () => {
  const r = run(blocks[1] ?? '')
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /^ {8}egress-mtls\.io\/injected: bank-api,tax-gw$/m)
  assert.match(r.stdout, /sidecar\.istio\.io\/userVolume: '\{"egress-mtls-bank-api":/)
  assert.match(r.stdout, /^kind: DestinationRule$/m)
  assert.match(r.stdout, /^ok deployment\/payments: the webhook injects it when it is applied, with bank-api,tax-gw/m)
  assert.match(r.stdout, /^doctor: 3 ok, 1 warn, 0 fail$/m)
  assert.equal(r.stderr, '')
})

test('npm start serves the webhook; the review block gets the patch and the metrics count it', { timeout: 120_000 }, async () => {
  assert.equal(blocks[2]?.split('#')[0]?.trim(), 'npm start')
  server = spawn('bash', ['-c', blocks[2]], { cwd: copy, env, stdio: 'ignore', detached: true })
  await ready('http://127.0.0.1:9090/readyz', 60_000)
  const r = run(blocks[3] ?? '')
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /^true \[\{"op":"add","path":"\/spec\/template\/metadata\/annotations"/m)
  assert.match(r.stdout, /egress-mtls-bank-api/)
  assert.match(r.stdout, /^egress_mtls_admission_requests_total\{kind="Deployment",operation="UPDATE",result="injected",dry_run="false"\} 1$/m)
})
