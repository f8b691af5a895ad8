// The checks of `doctor` on what ambient needs for `origination: waypoint` targets: the
// workload's namespace enrolled in ambient, and the waypoint present and serving services.
// Pure: what was read in, a finding per check out.
import { about, type Finding } from '../base/findings.ts'
import type { Config } from '../config/config.ts'

/** Istio's namespace label that enrols its workloads in ambient (ztunnel). */
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode'
/** Istio's label saying which traffic a waypoint serves (unset: service). */
const WAYPOINT_FOR_LABEL = 'istio.io/waypoint-for'

/** The waypoint's Gateway as read: its labels and class (undefined: not found). */
export interface WaypointGateway {
  readonly labels: Readonly<Record<string, string>>
  readonly gatewayClassName?: string
}

/**
 * The namespace carries `istio.io/dataplane-mode: ambient` (otherwise ztunnel never carries
 * its calls to the waypoint), and the waypoint `config.waypoint` exists, of class
 * istio-waypoint, serving services (`istio.io/waypoint-for` unset, `service` or `all`).
 */
export function checkWaypoint (
  config: Config, namespace: string, namespaceLabels: Readonly<Record<string, string>>, gateway: WaypointGateway | undefined,
): Finding[] {
  const { name, namespace: at } = config.waypoint
  const enrolled = about(`Namespace ${namespace}`)
  const mode = namespaceLabels[DATAPLANE_MODE_LABEL]
  const findings: Finding[] = [mode === 'ambient'
    ? enrolled.ok(`enrolled in ambient (${DATAPLANE_MODE_LABEL}=ambient): its calls reach the waypoint`)
    : enrolled.fail(`not enrolled in ambient (${mode === undefined ? `no label ${DATAPLANE_MODE_LABEL}` : `${DATAPLANE_MODE_LABEL}=${mode}`}): ` +
      `nothing carries its calls to the waypoint, so waypoint targets get no client certificate; label it ${DATAPLANE_MODE_LABEL}=ambient`)]
  const subject = about(`waypoint ${at}/${name}`)
  if (gateway === undefined) {
    findings.push(subject.fail(`not found: nothing originates the mutual TLS of waypoint targets; ${config.waypoint.create ? 'run egress-mtls provision' : `create it (istioctl waypoint apply -n ${at} --name ${name}) or set waypoint.create: true`}`))
    return findings
  }
  const serves = gateway.labels[WAYPOINT_FOR_LABEL] ?? 'service'
  if (gateway.gatewayClassName !== 'istio-waypoint') findings.push(subject.fail(`is of class ${gateway.gatewayClassName ?? '(none)'}, not istio-waypoint: it is not an ambient waypoint`))
  else if (serves !== 'service' && serves !== 'all') findings.push(subject.fail(`serves ${WAYPOINT_FOR_LABEL}=${serves}, not services: the targets' ServiceEntries are not served; label it ${WAYPOINT_FOR_LABEL}=service`))
  else findings.push(subject.ok(`an istio-waypoint serving services (${WAYPOINT_FOR_LABEL}=${serves})`))
  return findings
}
