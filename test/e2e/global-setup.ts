// Global setup for the end-to-end tier (Node >= 24 test runner):
//
//   node --test --test-global-setup=test/e2e/global-setup.ts test/e2e/*.test.ts
//
// globalSetup() builds or finds the binaries, starts ONE etcd + kube-apiserver for
// the whole run, installs Istio's CRDs and exports to every test file (test files
// run in child processes that inherit this environment):
//
//   EGRESS_MTLS_E2E_KUBECONFIG  kubeconfig of the control plane (admin, system:masters)
//   EGRESS_MTLS_E2E_HELM        the helm binary
//
// If EGRESS_MTLS_E2E_KUBECONFIG is already set (a control plane started with
// `npx node test/e2e/harness.ts`), it is reused and left running.
// globalTeardown() stops what globalSetup() started.

import { existsSync } from 'node:fs'

import { ensureBinaries, HELM_ENV } from '../support/binaries.ts'
import { type ControlPlane, startE2E } from '../support/control-plane.ts'
import { KUBECONFIG_ENV } from '../support/kube.ts'
import { emergencyCleanup } from '../support/processes.ts'

let cp: ControlPlane | undefined

function log (msg: string): void {
  process.stderr.write(`[e2e] ${msg}\n`)
}

function onSignal (sig: NodeJS.Signals): void {
  emergencyCleanup()
  // Keep the default behaviour (terminate) unless the runner handles the signal itself.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig)
}

export async function globalSetup (): Promise<void> {
  const existing = process.env[KUBECONFIG_ENV]
  if (existing !== undefined && existing !== '') {
    if (!existsSync(existing)) throw new Error(`${KUBECONFIG_ENV}=${existing}: no such file`)
    log(`reusing the control plane of ${KUBECONFIG_ENV}=${existing}`)
    if (process.env[HELM_ENV] === undefined) {
      const bins = await ensureBinaries()
      if (bins.helm !== undefined) process.env[HELM_ENV] = bins.helm
    }
    return
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  cp = await startE2E()
  process.env[KUBECONFIG_ENV] = cp.kubeconfigPath
  if (cp.binaries.helm !== undefined) process.env[HELM_ENV] = cp.binaries.helm
}

export async function globalTeardown (): Promise<void> {
  const running = cp
  if (running === undefined) return
  cp = undefined
  const t0 = Date.now()
  await running.stop()
  process.removeListener('SIGINT', onSignal)
  process.removeListener('SIGTERM', onSignal)
  log(`control plane stopped in ${Date.now() - t0} ms`)
}
