// `egress-mtls provision [--dry-run [-o yaml|json]] [--no-prune] [--prune-all] [--instance NAME]
// [--adopt] [--timeout S]`: server-side apply of what `render` prints, pruning what this
// instance created earlier and no longer wants; objects at our names that are not ours are
// conflicts (left alone, exit 1) unless --adopt.
import { LABEL_VALUE } from '../core/base/name-patterns.ts'
import { entryDiff } from '../core/istio/diff.ts'
import { type Action, formatEntry, type PlanEntry } from '../core/istio/plan.ts'
import { renderWarnings } from '../core/istio/render.ts'
import { writeDocument } from '../core/text/document.ts'
import { cliError } from '../errors.ts'
import { loadKubeConfig } from '../kube/client.ts'
import { provision } from '../kube/provision.ts'
import { instanceOf, loadConfiguration } from './configuration.ts'
import type { Io, ProvisionOptions } from './options.ts'

export async function run (options: ProvisionOptions, io: Io): Promise<number> {
  if (options.pruneAll && !options.prune) throw cliError('EMTLS_CLI_PRUNE_CONTRADICTION', '--no-prune')
  if (options.pruneAll && options.adopt) throw cliError('EMTLS_CLI_PRUNE_CONTRADICTION', '--adopt')
  if (options.output !== 'text' && !options.dryRun) throw cliError('EMTLS_CLI_OUTPUT_NEEDS_DRY_RUN', options.output)
  const instance = instanceOf(options)
  if (!LABEL_VALUE.test(instance)) throw cliError('EMTLS_CLI_INSTANCE_INVALID', instance)
  // Uninstall does not need (nor trust) a configuration: it deletes everything labelled ours.
  const config = options.pruneAll ? undefined : await loadConfiguration(options, io)
  for (const w of config === undefined ? [] : renderWarnings(config)) io.stderr.write(`warning: ${w}\n`)
  const kc = loadKubeConfig(options.kubeconfig, options.context)
  const result = await provision(kc, config, {
    instance,
    dryRun: options.dryRun,
    prune: options.prune,
    adopt: options.adopt,
    deadline: Date.now() + options.timeout * 1000,
    out: (line) => io.stdout.write(`${line}\n`),
    warn: (line) => io.stderr.write(`warning: ${line}\n`),
  })
  const c = result.counts
  if (options.output !== 'text') {
    const doc = { kind: 'ProvisionPlan', instance, items: result.entries.map(item), summary: c }
    io.stdout.write(writeDocument(options.output, doc))
  } else if (options.dryRun) {
    for (const e of result.entries) io.stdout.write(`${formatEntry(e)}\n${entryDiff(e)}`)
    io.stdout.write(`plan: ${c.create} to create, ${c.update} to update, ${c.unchanged} unchanged, ${c.delete} to delete${extra(c, 'to adopt')} (dry run: nothing changed)\n`)
  } else {
    const failed = result.failures.length - c.conflict
    io.stdout.write(`provisioned: ${c.create} created, ${c.update} updated, ${c.unchanged} unchanged, ${c.delete} deleted${extra(c, 'adopted')}${failed > 0 ? `, ${failed} failed` : ''}\n`)
  }
  for (const f of result.failures) io.stderr.write(`egress-mtls: ${f}\n`)
  return result.failures.length > 0 ? 1 : 0
}

/** `, 1 adopted, 2 conflicts`: only what happened. */
function extra (c: Readonly<Record<Action, number>>, adopted: string): string {
  return (c.adopt > 0 ? `, ${c.adopt} ${adopted}` : '') + (c.conflict > 0 ? `, ${c.conflict} ${c.conflict === 1 ? 'conflict' : 'conflicts'}` : '')
}

/** One entry of `-o yaml|json`. */
function item (e: PlanEntry): Record<string, unknown> {
  const diff = entryDiff(e)
  return {
    action: e.action,
    kind: e.kind,
    namespace: e.namespace,
    name: e.name,
    ...(e.reason === undefined ? {} : { reason: e.reason }),
    ...(diff === '' ? {} : { diff }),
    ...(e.desired === undefined ? {} : { object: e.desired }),
  }
}
