// Golden renders: test/fixtures/golden/render/<case>.config.yaml through `render` (the CLI
// in-process) is <case>.rendered.yaml, byte for byte, and its warnings <case>.warnings. A
// case is its files: adding one needs no code. GOLDEN_UPDATE=1 rewrites the expected files
// from what `render` gives now: read the diff before committing it.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { expectGolden, goldenFolder } from '../support/golden.ts'
import { runCli } from '../support/run-cli.ts'

const dir = fileURLToPath(new URL('../fixtures/golden/render/', import.meta.url))
const { cases, stale } = goldenFolder(dir, '.config.yaml', ['.rendered.yaml'], ['.warnings'])

test('golden renders: no stale file, every mode', () => {
  assert.deepEqual(stale, [])
  assert.ok(['sidecar', 'gateway', 'waypoint'].every((c) => cases.includes(c)), cases.join(', '))
})

for (const c of cases) {
  test(`golden render ${c}`, async () => {
    const result = await runCli(['render', '--config', join(dir, `${c}.config.yaml`)])
    assert.equal(result.code, 0, result.stderr)
    expectGolden(join(dir, `${c}.rendered.yaml`), result.stdout)
    expectGolden(join(dir, `${c}.warnings`), result.stderr, true)
  })
}
