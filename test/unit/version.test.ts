// One version number everywhere: package.json (and its lockfile), src/version.ts (what
// `--version` prints), the chart's version and appVersion, and the image tag the chart
// uses by default (empty image.tag: the appVersion; the rendered tag is checked by
// test/e2e/chart.test.ts, `helm package` by the same file).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { parse } from 'yaml'

import { VERSION } from '../../src/version.ts'

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')

test('package.json, its lockfile, VERSION and the chart name one version', () => {
  const pkg = JSON.parse(read('package.json')) as { version: string }
  const lock = JSON.parse(read('package-lock.json')) as { version: string, packages: Record<string, { version?: string }> }
  const chart = parse(read('charts/egress-mtls/Chart.yaml')) as { version: string, appVersion: string }
  assert.match(VERSION, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/)
  assert.deepEqual({
    'package.json': pkg.version,
    'package-lock.json': lock.version,
    'package-lock.json packages[""]': lock.packages['']?.version,
    'Chart.yaml version': chart.version,
    'Chart.yaml appVersion': chart.appVersion,
  }, {
    'package.json': VERSION,
    'package-lock.json': VERSION,
    'package-lock.json packages[""]': VERSION,
    'Chart.yaml version': VERSION,
    'Chart.yaml appVersion': VERSION,
  })
})

test('the chart\'s default image tag is its appVersion', () => {
  const values = parse(read('charts/egress-mtls/values.yaml')) as { image: { tag: string, digest: string } }
  assert.equal(values.image.tag, '', 'image.tag empty: the template uses .Chart.AppVersion')
  assert.equal(values.image.digest, '')
  assert.match(read('charts/egress-mtls/templates/_helpers.tpl'), /default \$?\.Chart\.AppVersion \.Values\.image\.tag/)
})
