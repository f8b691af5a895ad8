// `egress-mtls doctor [--namespace NS] [WORKLOAD]`: a line per finding (ok, warn, fail) and
// exit 1 when anything fails.
import { exitCode, formatFinding } from '../core/doctor.ts'
import { configPath, loadConfigFile } from '../io/config-file.ts'
import { checkReachable, contextNamespace, loadKubeConfig } from '../kube/client.ts'
import { doctor, parseWorkloadRef } from '../kube/doctor.ts'
import type { DoctorOptions, Io } from './options.ts'

/** How long transient API errors are retried, unless --timeout says. */
const TIMEOUT_SECONDS = 30

export async function run (options: DoctorOptions, io: Io): Promise<number> {
  if (options.workload !== undefined) parseWorkloadRef(options.workload) // bad usage before any I/O
  const config = await loadConfigFile(configPath(options.config, io.env))
  const kc = loadKubeConfig(options.kubeconfig, options.context)
  const deadline = Date.now() + (options.timeout ?? TIMEOUT_SECONDS) * 1000
  await checkReachable(kc, deadline)
  const findings = await doctor(kc, config, {
    namespace: options.namespace ?? contextNamespace(kc) ?? 'default',
    ...(options.workload === undefined ? {} : { workload: options.workload }),
    now: new Date(),
    deadline,
  })
  for (const f of findings) io.stdout.write(`${formatFinding(f)}\n`)
  const count = (level: string): number => findings.filter((f) => f.level === level).length
  io.stdout.write(`doctor: ${count('ok')} ok, ${count('warn')} warn, ${count('fail')} fail\n`)
  return exitCode(findings)
}
