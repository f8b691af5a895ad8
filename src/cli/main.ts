// egress-mtls: one program, a command per part. Commands are imported lazily so that
// `serve` never loads the Kubernetes client or certificate generation.
import { Command, CommanderError, Option } from 'commander'
import { EgressMtlsError } from '../errors.ts'
import type { DoctorOptions, Io, ProbeOptions } from './options.ts'

const int = (v: string): number => {
  const n = Number(v)
  if (!Number.isFinite(n)) throw new CommanderError(2, 'egress-mtls.invalidNumber', `not a number: ${v}`)
  return n
}

function program (io: Io, done: (code: number) => void): Command {
  const out = { writeOut: (s: string) => io.stdout.write(s), writeErr: (s: string) => io.stderr.write(s) }
  const p = new Command('egress-mtls')
    .description('mTLS to external systems from the Istio sidecar: webhook, provisioner and tools')
    .option('--config <file>', 'configuration file (default: $EGRESS_MTLS_CONFIG)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)')
    .configureOutput(out)
    .exitOverride()
    .showHelpAfterError()
  // Commander's option values are untyped; each command's options interface (options.ts)
  // matches the flags declared here.
  const action = (load: () => Promise<{ run: (o: never, io: Io) => Promise<number> }>) =>
    async (_opts: unknown, cmd: Command): Promise<void> => {
      const mod = await load()
      const opts: unknown = cmd.optsWithGlobals()
      done(await mod.run(opts as never, io))
    }

  p.command('serve').description('run the admission webhook (HTTPS) and its metrics/health port')
    .option('--listen <addr>', 'HTTPS address', ':8443')
    .option('--metrics-listen <addr>', 'plain HTTP address of /metrics, /healthz, /readyz', ':9090')
    .option('--tls-cert <file>', 'serving certificate (PEM), reloaded when it changes')
    .option('--tls-key <file>', 'serving key (PEM), reloaded when it changes')
    .option('--self-signed', 'serve an in-memory self-signed certificate (local use)', false)
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'))
    .addOption(new Option('--log-format <format>', 'log lines as JSON or as text').choices(['json', 'text']).default('json'))
    .option('--max-connections <n>', 'open connections on the HTTPS port; more are refused and counted', int, 1000)
    .action(action(() => import('./serve.ts')))

  p.command('inject').description('offline: mutate manifests like the webhook would (stdout), warnings on stderr')
    .option('-f, --filename <file>', 'manifests (multi-document YAML or JSON); - for stdin', '-')
    .option('-n, --namespace <ns>', 'namespace of manifests that name none (default: "default")')
    .action(action(() => import('./inject.ts')))

  p.command('render').description('offline: the Istio resources for the configuration, as YAML')
    .option('-n, --namespace <ns>', 'only the resources of this namespace')
    .action(action(() => import('./render.ts')))

  p.command('provision').description('server-side apply the Istio resources, pruning what is no longer wanted')
    .option('--dry-run', 'print the plan (create/update with a diff/unchanged/delete/conflict) and change nothing', false)
    .option('--no-prune', 'keep resources egress-mtls created earlier and no longer wants')
    .option('--prune-all', 'delete every resource egress-mtls owns (uninstall)', false)
    .option('--instance <name>', 'whose objects: the egress-mtls.io/instance label (the chart passes the release name)', 'egress-mtls')
    .option('--adopt', 'take over objects at our names that are not ours (otherwise conflicts, left alone)', false)
    .addOption(new Option('-o, --output <format>', 'output format of the --dry-run plan').choices(['text', 'yaml', 'json']).default('text'))
    .option('--timeout <seconds>', 'give up retrying transient errors after this long', int, 120)
    .action(action(() => import('./provision.ts')))

  p.command('certs').description('create or renew the webhook serving certificate and patch caBundle')
    .requiredOption('-n, --namespace <ns>', 'namespace of the Service and Secret')
    .requiredOption('--service <name>', 'the webhook Service')
    .requiredOption('--secret <name>', 'the Secret holding tls.crt, tls.key, ca.crt')
    .requiredOption('--webhook <name>', 'the MutatingWebhookConfiguration')
    .option('--ca-validity-days <days>', 'validity of a new CA', int, 3650)
    .option('--leaf-validity-days <days>', 'validity of a new serving certificate', int, 365)
    .option('--renew-fraction <f>', 'renew when less than this fraction of the validity is left', Number, 1 / 3)
    .option('--uninstall', 'delete the Secret if certs made it (the chart runs this on uninstall)', false)
    .action(action(() => import('./certs.ts')))

  p.command('doctor').description('check Secrets, certificates, Istio resources and injection in a namespace')
    .option('-n, --namespace <ns>', 'namespace to check', 'default')
    .option('--instance <name>', 'the provision --instance whose Istio resources to expect', 'egress-mtls')
    .argument('[workload]', 'kind/name or name of a Deployment to check for injection (default: every workload asking for egress-mtls)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'yaml', 'json']).default('text'))
    .action(async (workload: string | undefined, _opts: unknown, cmd: Command) => {
      const mod = await import('./doctor.ts')
      const values: unknown = cmd.optsWithGlobals()
      const opts = values as DoctorOptions
      done(await mod.run(workload === undefined ? opts : { ...opts, workload }, io))
    })

  p.command('probe').description('open a real mutual-TLS connection to a target with its Secret (or files); exit 0 only if the sidecar would succeed')
    .argument('<target>', 'the target (targets[].name)')
    .option('-n, --namespace <ns>', 'namespace of the Secret (default: the target\'s only namespace)')
    .option('--cert <file>', 'client certificate chain (PEM) instead of the Secret')
    .option('--key <file>', 'client key (PEM) instead of the Secret')
    .option('--cacert <file>', 'CAs that verify the server (PEM) instead of the Secret')
    .option('--connect-to <host:port>', 'connect there instead of the target\'s host and port (SNI and name checks stay the target\'s)')
    .option('--timeout <seconds>', 'give up after this long', int, 10)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'yaml', 'json']).default('text'))
    .action(async (target: string, _opts: unknown, cmd: Command) => {
      const mod = await import('./probe.ts')
      const values: unknown = cmd.optsWithGlobals()
      done(await mod.run({ ...(values as Omit<ProbeOptions, 'target'>), target }, io))
    })
  return p
}

/** Runs the CLI; resolves to the process exit code. */
export async function main (argv: readonly string[], io: Io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  let code = 0
  try {
    await program(io, (c) => { code = c }).parseAsync(argv, { from: 'user' })
    return code
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : 2
    }
    if (err instanceof EgressMtlsError) {
      io.stderr.write(`egress-mtls: ${err.message}\n`)
      return err.exitCode
    }
    io.stderr.write(`egress-mtls: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    return 1
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2))
}
