// doctor's reading of istiod's version and its judgement of pilot-agent's Secret reloads
// (src/core/doctor/istio-version.ts).
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { formatFinding } from '../../src/core/base/findings.ts'
import { checkIstioVersion, istiodVersion, parseVersion, reloadsEveryRotation } from '../../src/core/doctor/istio-version.ts'

test('versions: image tags with suffixes, a leading v; nothing else', () => {
  assert.deepEqual(parseVersion('1.29.2'), [1, 29, 2])
  assert.deepEqual(parseVersion('1.29.2-distroless'), [1, 29, 2])
  assert.deepEqual(parseVersion('v1.30.3'), [1, 30, 3])
  for (const bad of ['latest', '1.29', '1.29.x', 'sha256', '']) assert.equal(parseVersion(bad), undefined, bad)
})

test('the version from the image tag first (registry ports and digests skipped), then the labels; never istio.io/rev', () => {
  const at = (image: string | undefined, labels: Record<string, string> = {}): string | undefined => {
    const v = istiodVersion({ name: 'istiod', ...(image === undefined ? {} : { image }), labels })
    return v === undefined ? undefined : `${v.version.join('.')} from ${v.source}`
  }
  assert.equal(at('docker.io/istio/pilot:1.29.2'), '1.29.2 from image docker.io/istio/pilot:1.29.2')
  assert.equal(at('registry.example.com:5000/istio/pilot:1.30.3-distroless@sha256:abc'), '1.30.3 from image registry.example.com:5000/istio/pilot:1.30.3-distroless@sha256:abc')
  assert.equal(at('registry.example.com:5000/istio/pilot@sha256:abc', { 'operator.istio.io/version': '1.28.1' }), '1.28.1 from label operator.istio.io/version=1.28.1')
  assert.equal(at('pilot:latest', { 'app.kubernetes.io/version': '1.31.0' }), '1.31.0 from label app.kubernetes.io/version=1.31.0')
  assert.equal(at(undefined, { 'istio.io/rev': '1-29-2' }), undefined)
})

test('every rotation reloads from 1.29.3 and 1.30.3 on, and in later minors', () => {
  const cases: [string, boolean][] = [['1.28.9', false], ['1.29.0', false], ['1.29.2', false], ['1.29.3', true], ['1.29.10', true], ['1.30.0', false], ['1.30.2', false], ['1.30.3', true], ['1.31.0', true], ['2.0.0', true], ['0.9.9', false]]
  for (const [v, fixed] of cases) assert.equal(reloadsEveryRotation(parseVersion(v)!), fixed, v)
})

test('findings: ok, a warning saying what to do, istiod absent or of no known version', () => {
  const lines = (istiods: Parameters<typeof checkIstioVersion>[1]): string[] => checkIstioVersion('istio-system', istiods).map(formatFinding)
  assert.deepEqual(lines([{ name: 'istiod', image: 'docker.io/istio/pilot:1.30.3', labels: {} }]), [
    'ok Istio (istio-system/istiod): Istio 1.30.3 (image docker.io/istio/pilot:1.30.3) reloads every renewal of a mounted Secret',
  ])
  const old = lines([{ name: 'istiod-1-29-2', image: 'docker.io/istio/pilot:1.29.2', labels: {} }])
  assert.equal(old.length, 1)
  assert.match(old[0]!, /^warn Istio \(istio-system\/istiod-1-29-2\): Istio 1\.29\.2 \(image .*\): its sidecars reload a mounted Secret's first renewal only \(istio\/istio#59912\).*Upgrade Istio to 1\.29\.3, 1\.30\.3 or later, or restart the workloads/)
  assert.match(lines([])[0]!, /^warn Istio \(istio-system\): no istiod Deployment/)
  assert.match(lines([{ name: 'istiod', image: 'pilot@sha256:abc', labels: {} }])[0]!, /^warn .*cannot tell istiod's version/)
})
