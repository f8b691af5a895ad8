// `egress-mtls doctor [--namespace NS] [WORKLOAD] [-o text|yaml|json]`: a finding per check
// (ok, warn, fail) and exit 1 when anything fails. With -f (manifests) or --cert/--key/--cacert
// it reads no cluster: what those files show (core/doctor/offline.ts).
import { isRecord } from '../core/base/json.ts'
import { cliError } from '../errors.ts'
import { checkReachable, contextNamespace, loadKubeConfig } from '../kube/client.ts'
import { doctor, parseWorkloadRef } from '../kube/doctor.ts'
import { instanceOf, loadConfiguration } from './configuration.ts'
import type { DoctorOptions, Io } from './options.ts'
import { writeReport } from './report.ts'

/** How long transient API errors are retried, unless --timeout says. */
const TIMEOUT_SECONDS = 30

export async function run (options: DoctorOptions, io: Io): Promise<number> {
  const files = [options.cert, options.key, options.cacert]
  if (files.some((f) => f !== undefined) && files.some((f) => f === undefined)) throw cliError('EMTLS_CLI_DOCTOR_FILES_TOGETHER')
  if (options.filename !== undefined || options.cert !== undefined) return offline(options, io)
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

/** Offline: the manifests and material files given, no cluster. */
async function offline (options: DoctorOptions, io: Io): Promise<number> {
  if (options.workload !== undefined) throw cliError('EMTLS_CLI_DOCTOR_WORKLOAD_OFFLINE')
  const config = await loadConfiguration(options, io)
  const [{ parseManifests, readInputs }, { readMaterialFiles }, { doctorOffline }] = await Promise.all([
    import('../io/manifests.ts'), import('../io/material-files.ts'), import('../core/doctor/offline.ts'),
  ])
  const objects: unknown[] = []
  const add = (v: unknown): void => {
    const items = isRecord(v) && typeof v['kind'] === 'string' && v['kind'].endsWith('List') ? v['items'] : undefined
    if (Array.isArray(items)) for (const item of items as unknown[]) add(item)
    else if (v !== null) objects.push(plainNumbers(v))
  }
  const manifests = parseManifests(await readInputs(options.filename ?? [], options.recursive === true, io.stdin))
  for (const m of manifests) for (const d of m.documents()) add(d.value)
  const { cert, key, cacert } = options
  const material = cert !== undefined && key !== undefined && cacert !== undefined
    ? { files: { cert, key, cacert }, material: await readMaterialFiles({ cert, key, cacert }) }
    : undefined
  const input = { objects, namespace: options.namespace ?? 'default', instance: instanceOf(options), now: new Date() }
  const findings = doctorOffline(config, material === undefined ? input : { ...input, material })
  return writeReport(io, 'doctor', options.output, findings, { offline: true })
}

/** Manifests are read with int64 numbers exact (BigInt); the checks compare JSON as the API server returns it. */
function plainNumbers (v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => typeof x === 'bigint' ? (Number.isSafeInteger(Number(x)) ? Number(x) : x.toString()) : x))
}
