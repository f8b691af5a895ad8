// The checks of `doctor` on the egress gateway of `origination: egressGateway` targets: its
// Service and a ready pod behind it. Pure: what was read in, a finding per check out.
import { about, type Finding } from '../base/findings.ts'
import type { EgressGateway } from '../config/config.ts'

/** A pod as the check reads it: its name and whether it is ready. */
export interface GatewayPod {
  readonly name: string
  readonly ready: boolean
}

/** `istio=egressgateway,app=x`: the selector as kubectl takes it. */
export const selectorText = (selector: Readonly<Record<string, string>>): string => Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',')

/**
 * The gateway's Service exists (`service`: found or not) and at least one pod its
 * `selector` matches is ready in its namespace (`pods`: those pods).
 */
export function checkGatewayWorkload (gateway: EgressGateway, service: boolean, pods: readonly GatewayPod[]): Finding[] {
  const serviceName = gateway.service.split('.')[0] ?? gateway.service
  const findings: Finding[] = []
  const svc = about(`Service ${gateway.namespace}/${serviceName}`)
  findings.push(service
    ? svc.ok(`the egress gateway's Service (${gateway.service}) exists`)
    : svc.fail(`not found: the sidecars send egressGateway targets to ${gateway.service}; install Istio's gateway chart there (or set egressGateway.service)`))
  const subject = about(`egress gateway ${gateway.namespace}/${selectorText(gateway.selector)}`)
  const ready = pods.filter((p) => p.ready).length
  if (pods.length === 0) findings.push(subject.fail(`no pod labelled ${selectorText(gateway.selector)} in namespace ${gateway.namespace}: nothing originates the mutual TLS of egressGateway targets`))
  else if (ready === 0) findings.push(subject.fail(`${pods.length} pod${pods.length === 1 ? '' : 's'} labelled ${selectorText(gateway.selector)}, none ready`))
  else findings.push(subject.ok(`${ready} of ${pods.length} pod${pods.length === 1 ? '' : 's'} ready`))
  return findings
}
