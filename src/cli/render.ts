// `egress-mtls render [--namespace NS] [-o yaml|json]`: the Istio resources as multi-document
// YAML (or JSON), the same objects `provision` applies (for GitOps users who commit them).
import { render, renderWarnings } from '../core/istio/render.ts'
import { loadConfiguration } from './configuration.ts'
import type { Io, RenderOptions } from './options.ts'
import { formatObjects } from './output.ts'

export async function run (options: RenderOptions, io: Io): Promise<number> {
  const config = await loadConfiguration(options, io)
  for (const w of renderWarnings(config)) io.stderr.write(`egress-mtls: warning: ${w}\n`)
  const objects = render(config).filter((o) => options.namespace === undefined || o.metadata.namespace === options.namespace)
  if (objects.length === 0) {
    io.stderr.write(`egress-mtls: no resources${options.namespace === undefined ? '' : ` in namespace ${options.namespace}`}\n`)
    return 0
  }
  // As kubectl and Istio read YAML (1.1): a target named `y` or `on` must stay a string.
  io.stdout.write(formatObjects(objects, options.output))
  return 0
}
