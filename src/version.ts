// The one version number of egress-mtls: package.json's. The chart's version and
// appVersion and the image tag are the same number (a test checks it). Read once at load
// time from the package.json beside src/ or dist/ (the runtime tree and the npm package
// both carry it).
import { readFileSync } from 'node:fs'

const pkg: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))

function versionOf (p: unknown): string {
  if (typeof p === 'object' && p !== null && 'version' in p && typeof p.version === 'string') return p.version
  throw new Error('package.json has no version')
}

export const VERSION: string = versionOf(pkg)
