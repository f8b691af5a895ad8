// `npx node test/e2e/harness.ts`: a control plane for manual work (test/support/control-plane.ts,
// as global-setup.ts starts one per run); prints the variables to export, runs until Ctrl-C.
import { HELM_ENV } from '../support/binaries.ts'
import { startE2E } from '../support/control-plane.ts'
import { KUBECONFIG_ENV } from '../support/kube.ts'

const cp = await startE2E()
process.stdout.write(
  `export ${KUBECONFIG_ENV}=${cp.kubeconfigPath}\n` +
    (cp.binaries.helm === undefined ? '' : `export ${HELM_ENV}=${cp.binaries.helm}\n`) +
    `# kubectl --kubeconfig ${cp.kubeconfigPath} get crds\n# Ctrl-C stops it.\n`,
)
const done = async (): Promise<void> => {
  await cp.stop()
  process.exit(0)
}
process.once('SIGINT', () => { void done() })
process.once('SIGTERM', () => { void done() })
