// egress-mtls: one program, a command per part. Commands are imported lazily so that
// `serve` never loads the Kubernetes client or certificate generation. Each command's
// registration is one block below: its options, its examples, its action.
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander'

import { MILLISECOND, parseGoDuration } from '../core/base/duration.ts'
import { DOCUMENT_FORMATS, type DocumentFormat, writeDocument } from '../core/text/document.ts'
import { EgressMtlsError } from '../errors.ts'
import { VERSION } from '../version.ts'
import type { DoctorOptions, Io, ProbeOptions } from './options.ts'
import { OUTPUT_FORMATS, outputOption } from './output.ts'

// ---- option values: a bad one is one line, exit 2 ------------------------------------

const number = (what: string, ok: (n: number) => boolean) => (v: string): number => {
  const n = v.trim() === '' ? NaN : Number(v)
  if (!Number.isFinite(n) || !ok(n)) throw new InvalidArgumentError(`must be ${what}`)
  return n
}
const positiveSeconds = number('a positive number of seconds', (n) => n > 0)
const positiveInt = number('a positive whole number', (n) => n > 0 && Number.isInteger(n))
const positiveDays = number('a positive whole number of days', (n) => n > 0 && Number.isInteger(n))
const fraction = number('a number between 0 and 1', (n) => n > 0 && n < 1)
const MAX_SHUTDOWN_DELAY_MS = 10 * 60_000
/** A Go duration (5s, 1m30s, 500ms), in whole milliseconds. */
const shutdownDelay = (v: string): number => {
  const ns = parseGoDuration(v.trim())
  const ms = ns === undefined ? NaN : Number(ns / MILLISECOND)
  if (!(ms <= MAX_SHUTDOWN_DELAY_MS)) throw new InvalidArgumentError('must be a duration such as 5s or 500ms, at most 10m')
  return ms
}
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

/** "Examples:" after a command's help. */
const examples = (...lines: string[]): string => `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`

function program (io: Io, done: (code: number) => void): Command {
  const p = new Command('egress-mtls')
    .description('mTLS to external systems from the Istio sidecar: webhook, provisioner and tools')
    .version(VERSION, '--version', 'print the version')
    .option('--config <file>', 'configuration file (default: $EGRESS_MTLS_CONFIG)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: the current context)')
    .option('--release <name>', 'read the configuration from this installed Helm release (its ConfigMap) instead of --config')
    .option('--release-namespace <ns>', 'namespace of the --release (default: the context\'s namespace)')
    .configureOutput({
      writeOut: (s: string) => io.stdout.write(s),
      writeErr: (s: string) => io.stderr.write(s),
      // one line, as every other error: "egress-mtls: option '-o, --output <format>' argument 'xml' is invalid. ..."
      outputError: (s: string, write: (s: string) => void) => { write(`egress-mtls: ${s.replace(/^error: /, '').trimEnd().replace(/\n\(Did you mean/, ' (did you mean').replace(/\n/g, ' ')}\n`) },
    })
    .exitOverride()
    .showSuggestionAfterError()
    .addHelpText('after', examples(
      'egress-mtls inject --config config.yaml -f deployment.yaml      # preview the webhook offline',
      'egress-mtls render --config config.yaml -o yaml                 # the Istio objects, for GitOps',
      'egress-mtls doctor --config config.yaml -n payments deploy/web  # check a namespace',
      'source <(egress-mtls completion bash)                           # shell completion',
    ))
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
    .option('--max-connections <n>', 'open connections on the HTTPS port; more are refused and counted', positiveInt, 1000)
    .option('--max-connections-per-source <n>', 'open connections on the HTTPS port from one client address; more are refused and counted', positiveInt, 250)
    .option('--shutdown-delay <duration>', 'after SIGTERM, serve on (unready, each answer ending its connection) this long before draining', shutdownDelay, 0)
    .addHelpText('after', examples(
      'egress-mtls serve --config /etc/egress-mtls/config.yaml --tls-cert tls.crt --tls-key tls.key --shutdown-delay 5s',
      'egress-mtls serve --config examples/config.yaml --self-signed --listen 127.0.0.1:8443',
    ))
    .action(action(() => import('./serve.ts')))

  p.command('monitor').description('watch the targets\' Secrets and export their certificates\' expiry and problems as metrics')
    .option('--metrics-listen <addr>', 'plain HTTP address of /metrics, /healthz, /readyz', ':9090')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'))
    .addOption(new Option('--log-format <format>', 'log lines as JSON or as text').choices(['json', 'text']).default('json'))
    .addHelpText('after', examples(
      'egress-mtls monitor --config /etc/egress-mtls/config.yaml',
      'egress-mtls monitor --config config.yaml --context prod --metrics-listen 127.0.0.1:9091 --log-format text',
    ))
    .action(action(() => import('./monitor.ts')))

  p.command('inject').description('offline: mutate manifests like the webhook would (stdout), warnings on stderr')
    .option('-f, --filename <path>', 'manifests (YAML or JSON): a file, a directory, - for stdin; repeatable', collect)
    .option('-R, --recursive', 'read the directories given with -f recursively', false)
    .option('-n, --namespace <ns>', 'namespace of manifests that name none (default: "default")')
    .addOption(outputOption(DOCUMENT_FORMATS))
    .addHelpText('after', examples(
      'egress-mtls inject --config config.yaml -f deployment.yaml -n payments',
      'egress-mtls inject --config config.yaml -R -f k8s/ > injected.yaml',
      'helm template shop ./chart | egress-mtls inject --config config.yaml -f -',
      'egress-mtls inject --config config.yaml -f deployment.json -o yaml',
    ))
    .action(action(() => import('./inject.ts')))

  p.command('render').description('offline: the Istio resources for the configuration, as YAML')
    .option('-n, --namespace <ns>', 'only the resources of this namespace')
    .addOption(outputOption(DOCUMENT_FORMATS, 'yaml'))
    .addHelpText('after', examples(
      'egress-mtls render --config config.yaml',
      'egress-mtls render --config config.yaml -n payments -o json',
    ))
    .action(action(() => import('./render.ts')))

  p.command('provision').description('server-side apply the Istio resources, pruning what is no longer wanted')
    .option('--dry-run', 'print the plan (create/update with a diff/unchanged/delete/conflict) and change nothing', false)
    .option('--no-prune', 'keep resources egress-mtls created earlier and no longer wants')
    .option('--prune-all', 'delete every resource egress-mtls owns (uninstall)', false)
    .option('--instance <name>', 'whose objects: the egress-mtls.io/instance label (the chart passes the release name; default: --release, else egress-mtls)')
    .option('--adopt', 'take over objects at our names that are not ours (otherwise conflicts, left alone)', false)
    .addOption(outputOption(OUTPUT_FORMATS, 'text', 'output format of the --dry-run plan'))
    .option('--timeout <seconds>', 'give up retrying transient errors after this long', positiveSeconds, 120)
    .addHelpText('after', examples(
      'egress-mtls provision --config config.yaml --dry-run -o yaml',
      'egress-mtls provision --config config.yaml --context prod --timeout 30',
      'egress-mtls provision --prune-all',
    ))
    .action(action(() => import('./provision.ts')))

  p.command('certs').description('create or renew the webhook serving certificate and patch caBundle')
    .option('-n, --namespace <ns>', 'namespace of the Service and Secret (default: the context\'s namespace)')
    .requiredOption('--service <name>', 'the webhook Service')
    .requiredOption('--secret <name>', 'the Secret holding tls.crt, tls.key, ca.crt')
    .requiredOption('--webhook <name>', 'the MutatingWebhookConfiguration')
    .option('--ca-validity-days <days>', 'validity of a new CA', positiveDays, 3650)
    .option('--leaf-validity-days <days>', 'validity of a new serving certificate', positiveDays, 365)
    .addOption(new Option('--renew-fraction <f>', 'renew when less than this fraction of the validity is left').argParser(fraction).default(1 / 3, '1/3'))
    .option('--uninstall', 'delete the Secret if certs made it (the chart runs this on uninstall)', false)
    .option('--timeout <seconds>', 'give up when the API server does not answer within this long', positiveSeconds, 30)
    .addHelpText('after', examples(
      'egress-mtls certs -n egress-mtls --service egress-mtls --secret egress-mtls-tls --webhook egress-mtls',
      'egress-mtls certs -n egress-mtls --service egress-mtls --secret egress-mtls-tls --webhook egress-mtls --uninstall',
    ))
    .action(action(() => import('./certs.ts')))

  p.command('doctor').description('check Secrets, certificates, Istio resources and injection in a namespace')
    .option('-n, --namespace <ns>', 'namespace to check (default: the context\'s namespace, else "default")')
    .option('--instance <name>', 'the provision --instance whose Istio resources to expect (default: --release, else egress-mtls)')
    .option('--timeout <seconds>', 'give up retrying transient API errors after this long', positiveSeconds, 30)
    .option('-f, --filename <path>', 'offline: check these manifests (files, directories, - for stdin) instead of the cluster; repeatable', collect)
    .option('-R, --recursive', 'read the directories given with -f recursively', false)
    .option('--cert <file>', 'offline: check this client certificate chain (PEM) with --key and --cacert')
    .option('--key <file>', 'offline: the client key (PEM)')
    .option('--cacert <file>', 'offline: the CAs that verify the server (PEM)')
    .argument('[workload]', 'kind/name or name of a Deployment to check for injection (default: every workload asking for egress-mtls)')
    .addOption(outputOption(OUTPUT_FORMATS, 'text'))
    .addHelpText('after', examples(
      'egress-mtls doctor --config config.yaml -n payments',
      'egress-mtls doctor --config config.yaml -n payments deployment/checkout -o json',
      'egress-mtls doctor --config config.yaml -R -f k8s/ --cert client.crt --key client.key --cacert bank-ca.crt   # offline',
    ))
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
    .option('--timeout <seconds>', 'give up after this long', positiveSeconds, 10)
    .addOption(outputOption(OUTPUT_FORMATS, 'text'))
    .addHelpText('after', examples(
      'egress-mtls probe --config config.yaml -n payments bank-api',
      'egress-mtls probe --config config.yaml bank-api --cert client.crt --key client.key --cacert bank-ca.crt',
    ))
    .action(async (target: string, _opts: unknown, cmd: Command) => {
      const mod = await import('./probe.ts')
      const values: unknown = cmd.optsWithGlobals()
      done(await mod.run({ ...(values as Omit<ProbeOptions, 'target'>), target }, io))
    })

  p.command('version').description('print the version')
    .addOption(outputOption(DOCUMENT_FORMATS))
    .addHelpText('after', examples('egress-mtls version', 'egress-mtls version -o json'))
    .action((opts: { output?: DocumentFormat }) => {
      if (opts.output === undefined) io.stdout.write(`egress-mtls ${VERSION} (node ${process.version})\n`)
      else io.stdout.write(writeDocument(opts.output, { version: VERSION, node: process.version }))
      done(0)
    })

  p.command('completion').description('print a shell completion script')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .addHelpText('after', examples(
      'source <(egress-mtls completion bash)                     # this shell',
      'egress-mtls completion bash > /etc/bash_completion.d/egress-mtls',
      'egress-mtls completion zsh > "${fpath[1]}/_egress-mtls"   # zsh',
    ))
    .action(async (shell: string) => {
      const { completionScript } = await import('./completion.ts')
      io.stdout.write(completionScript(shell === 'zsh' ? 'zsh' : 'bash', p))
      done(0)
    })
  return p
}

/** Runs the CLI; resolves to the process exit code. */
export async function main (
  argv: readonly string[],
  io: Io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
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
    // Not expected: one line; the stack trace only when asked for.
    const debug = io.env['EGRESS_MTLS_DEBUG'] !== undefined && io.env['EGRESS_MTLS_DEBUG'] !== ''
    const message = err instanceof Error ? (debug ? (err.stack ?? err.message) : err.message.split('\n')[0] ?? '') : String(err)
    io.stderr.write(`egress-mtls: ${message}${debug ? '' : ' (EGRESS_MTLS_DEBUG=1 for the stack trace)'}\n`)
    return 1
  }
}

/**
 * The process around main(): its exit code. A failed command ends at once: a connection
 * attempt its deadline gave up on (undici keeps connecting in the background, up to 10 s)
 * must not keep the process alive.
 */
export async function runProcess (argv: readonly string[]): Promise<void> {
  const code = await main(argv)
  process.exitCode = code
  if (code !== 0) process.stderr.write('', () => { process.exit(code) })
}

if (import.meta.main) await runProcess(process.argv.slice(2))
