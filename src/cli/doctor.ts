// `egress-mtls doctor [--namespace NS] [WORKLOAD] [-o text|yaml|json]`: a finding per check
// (ok, warn, fail) and exit 1 when anything fails.
import { checkReachable, contextNamespace, loadKubeConfig } from '../kube/client.ts'
import { doctor, parseWorkloadRef } from '../kube/doctor.ts'
import { instanceOf, loadConfiguration } from './configuration.ts'
import type { DoctorOptions, Io } from './options.ts'
import { writeReport } from './report.ts'

/** How long transient API errors are retried, unless --timeout says. */
const TIMEOUT_SECONDS = 30

export async function run (options: DoctorOptions, io: Io): Promise<number> {
  if (options.workload !== undefined) parseWorkloadRef(options.workload) // bad usage before any I/O
  const config = await loadConfiguration(options, io)
  const kc = loadKubeConfig(options.kubeconfig, options.context)
  const deadline = Date.now() + (options.timeout ?? TIMEOUT_SECONDS) * 1000
  await checkReachable(kc, deadline)
  const namespace = options.namespace ?? contextNamespace(kc) ?? 'default'
  const findings = await doctor(kc, config, {
    namespace,
    ...(options.workload === undefined ? {} : { workload: options.workload }),
    instance: instanceOf(options),
    now: new Date(),
    deadline,
  })
  return writeReport(io, 'doctor', options.output, findings, { namespace, ...(options.workload === undefined ? {} : { workload: options.workload }) })
}
