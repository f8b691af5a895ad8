// `egress-mtls provision [--dry-run] [--no-prune] [--prune-all] [--timeout S]`: server-side
// apply of what `render` prints, pruning what egress-mtls created earlier and no longer wants.
import { usageError } from '../errors.ts'
import { configPath, loadConfigFile } from '../io/config-file.ts'
import { loadKubeConfig } from '../kube/client.ts'
import { provision } from '../kube/provision.ts'
import { renderWarnings } from '../core/render.ts'
import type { Io, ProvisionOptions } from './options.ts'

export async function run (options: ProvisionOptions, io: Io): Promise<number> {
  if (options.pruneAll && !options.prune) throw usageError('--prune-all and --no-prune contradict each other')
  if (!(options.timeout > 0)) throw usageError(`--timeout must be a positive number of seconds, not ${options.timeout}`)
  // Uninstall does not need (nor trust) a configuration: it deletes everything labelled ours.
  const config = options.pruneAll ? undefined : await loadConfigFile(configPath(options.config, io.env))
  for (const w of config === undefined ? [] : renderWarnings(config)) io.stderr.write(`warning: ${w}\n`)
  const kc = loadKubeConfig(options.kubeconfig, options.context)
  const result = await provision(kc, config, {
    dryRun: options.dryRun,
    prune: options.prune,
    deadline: Date.now() + options.timeout * 1000,
    out: (line) => io.stdout.write(`${line}\n`),
    warn: (line) => io.stderr.write(`warning: ${line}\n`),
  })
  const c = result.counts
  io.stdout.write(options.dryRun
    ? `plan: ${c.create} to create, ${c.update} to update, ${c.unchanged} unchanged, ${c.delete} to delete (dry run: nothing changed)\n`
    : `provisioned: ${c.create} created, ${c.update} updated, ${c.unchanged} unchanged, ${c.delete} deleted${result.failures.length > 0 ? `, ${result.failures.length} failed` : ''}\n`)
  for (const f of result.failures) io.stderr.write(`egress-mtls: ${f}\n`)
  return result.failures.length > 0 ? 1 : 0
}
