// The binaries of the end-to-end tier (kube-apiserver, etcd, helm), built or found by
// scripts/build-e2e-binaries.sh.
import { spawn } from 'node:child_process'
import { join } from 'node:path'

import { repoRoot } from './repo.ts'

/** Environment variable holding the helm binary built for the run. */
export const HELM_ENV = 'EGRESS_MTLS_E2E_HELM'

export interface E2EBinaries {
  kubeApiserver: string
  etcd: string
  /** Absent only when built with E2E_SKIP_HELM=1. */
  helm?: string
}

export interface EnsureBinariesOptions {
  /** Also build helm (default true). */
  helm?: boolean
}

/**
 * Runs scripts/build-e2e-binaries.sh (progress goes to this process's stderr) and
 * returns the absolute paths it printed. A warm run takes well under a second.
 */
export async function ensureBinaries (opts: EnsureBinariesOptions = {}): Promise<E2EBinaries> {
  const script = join(repoRoot, 'scripts', 'build-e2e-binaries.sh')
  const env: NodeJS.ProcessEnv = { ...process.env }
  if (opts.helm === false) env['E2E_SKIP_HELM'] = '1'
  const child = spawn('bash', [script], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => { out += chunk })
  const code = await new Promise<number | null>((res, rej) => {
    child.on('error', rej)
    child.on('close', res)
  })
  if (code !== 0) {
    throw new Error(`scripts/build-e2e-binaries.sh failed (exit ${String(code)}); see its messages above`)
  }
  const vars = new Map<string, string>()
  for (const line of out.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line)
    if (m?.[1] !== undefined && m[2] !== undefined) vars.set(m[1], m[2])
  }
  const kubeApiserver = vars.get('KUBE_APISERVER')
  const etcd = vars.get('ETCD')
  if (kubeApiserver === undefined || etcd === undefined) {
    throw new Error(`scripts/build-e2e-binaries.sh printed no KUBE_APISERVER/ETCD paths:\n${out}`)
  }
  const helm = vars.get('HELM')
  return helm === undefined ? { kubeApiserver, etcd } : { kubeApiserver, etcd, helm }
}
