// The gate that bounds how many of the monitor's lists run at once (src/kube/secret-watch.ts).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import { gate } from '../../src/kube/secret-watch.ts'

test('at most `width` run at once; every one runs, failures included, and frees its slot', async () => {
  const through = gate(3)
  let running = 0
  let most = 0
  const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => through(async () => {
    running++
    most = Math.max(most, running)
    await sleep(5)
    running--
    if (i % 4 === 0) throw new Error(`job ${i}`)
    return i
  })))
  assert.equal(most, 3)
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 15)
  assert.equal(results.filter((r) => r.status === 'rejected').length, 5)
})
