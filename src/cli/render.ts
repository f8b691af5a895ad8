// `egress-mtls render [--namespace NS] [-o yaml|json]`: the Istio resources as multi-document
// YAML (or JSON), the same objects `provision` applies (for GitOps users who commit them).
import { render, renderWarnings } from '../core/istio/render.ts'
import { loadConfiguration } from './configuration.ts'
import type { Io, RenderOptions } from './options.ts'
import { formatObjects } from './output.ts'

export async function run (options: RenderOptions, io: Io): Promise<number> {
  const config = await loadConfiguration(options, io)
  for (const w of renderWarnings(config)) io.stderr.write(`egress-mtls: warning: ${w}\n`)
  const ns = options.namespace
  const objects = render(config).filter((o) => ns === undefined || o.metadata.namespace === ns)
  // Mesh-wide targets serve every namespace from the mesh root's objects: say so, or -n NS
  // would hide them (and "no resources" would read as "no target here").
  const meshWide = ns === undefined || ns === config.meshRootNamespace ? [] : config.targets.filter((t) => t.namespaces.includes('*')).map((t) => t.name)
  const cover = meshWide.length === 0
    ? ''
    : `the mesh-wide target${meshWide.length === 1 ? '' : 's'} ${meshWide.join(', ')} cover${meshWide.length === 1 ? 's' : ''} namespace ${ns ?? ''} ` +
      `with resources in the mesh root namespace ${config.meshRootNamespace} (render -n ${config.meshRootNamespace})`
  if (objects.length === 0) {
    io.stderr.write(`egress-mtls: no resources${ns === undefined ? '' : ` in namespace ${ns}`}${cover === '' ? '' : `: ${cover}`}\n`)
    return 0
  }
  if (cover !== '') io.stderr.write(`egress-mtls: note: ${cover}\n`)
  // As kubectl and Istio read YAML (1.1): a target named `y` or `on` must stay a string.
  io.stdout.write(formatObjects(objects, options.output))
  return 0
}
