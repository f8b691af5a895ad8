// `egress-mtls certs [--uninstall]`: make or renew the webhook's serving certificate, store it
// in the Secret and set caBundle on the MutatingWebhookConfiguration (kube/certs.ts); each line
// of what was done is printed as `certs: ...`.
import { DNS1123_LABEL, DNS1123_SUBDOMAIN } from '../core/base/name-patterns.ts'
import { cliError } from '../errors.ts'
import { certs } from '../kube/certs.ts'
import { checkReachable, contextNamespace, loadKubeConfig } from '../kube/client.ts'
import type { CertsOptions, Io } from './options.ts'

function validate (o: CertsOptions & { readonly namespace: string }): void {
  for (const [flag, value] of [['--namespace', o.namespace], ['--service', o.service]] as const) {
    if (!DNS1123_LABEL.test(value)) throw cliError('EMTLS_CLI_CERTS_NAME_INVALID', flag, value, 'label')
  }
  for (const [flag, value] of [['--secret', o.secret], ['--webhook', o.webhook]] as const) {
    if (!DNS1123_SUBDOMAIN.test(value)) throw cliError('EMTLS_CLI_CERTS_NAME_INVALID', flag, value, 'subdomain')
  }
  if (!(o.caValidityDays > o.leafValidityDays)) throw cliError('EMTLS_CLI_CERTS_VALIDITY', o.caValidityDays, o.leafValidityDays)
}

export async function run (cliOptions: CertsOptions, io: Io): Promise<number> {
  const kc = loadKubeConfig(cliOptions.kubeconfig, cliOptions.context)
  const namespace = cliOptions.namespace ?? contextNamespace(kc)
  if (namespace === undefined) throw cliError('EMTLS_CLI_CERTS_NO_NAMESPACE')
  const options = { ...cliOptions, namespace }
  validate(options)
  await checkReachable(kc, Date.now() + (options.timeout ?? 30) * 1000)
  await certs(kc, { namespace, secret: options.secret, webhook: options.webhook }, {
    service: options.service,
    caValidityDays: options.caValidityDays,
    leafValidityDays: options.leafValidityDays,
    renewFraction: options.renewFraction,
    uninstall: options.uninstall,
    log: (line) => { io.stdout.write(`certs: ${line}\n`) },
  })
  return 0
}
