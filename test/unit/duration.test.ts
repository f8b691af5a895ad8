// parseGoDuration: Go's time.ParseDuration, which kube-apiserver's CEL duration() and istiod
// use, reproduced to the nanosecond (expected values are what Go 1.26 returns).
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { parseGoDuration } from '../../src/core/base/duration.ts'

test('units, sums and fractions as Go computes them', () => {
  const cases: [string, bigint][] = [
    ['0', 0n],
    ['1ns', 1n],
    ['1us', 1000n],
    ['1\u00b5s', 1000n],
    ['1\u03bcs', 1000n],
    ['1ms', 1_000_000n],
    ['1h30m', 5_400_000_000_000n],
    ['1.5h', 5_400_000_000_000n],
    ['0.3h', 1_080_000_000_000n],
    ['.5s', 500_000_000n],
    ['5.s', 5_000_000_000n],
    ['+1s', 1_000_000_000n],
    ['0.000000001s', 1n],
    ['1.0000000001s', 1_000_000_000n], // the tenth of a nanosecond is truncated
    ['2562047h47m16.854775807s', 9_223_372_036_854_775_807n],
    ['9223372036854775807ns', 9_223_372_036_854_775_807n],
  ]
  for (const [text, ns] of cases) assert.equal(parseGoDuration(text), ns, text)
})

test('what Go refuses: syntax, unknown units, overflow past 2^63-1 ns', () => {
  for (const text of ['', '1', 'h', '1x', '1 h', '-', '.s', '1h-1m', '2562047h47m16.854775808s', '9223372036854775808ns', '99999999999999999999h', '2562048h']) {
    assert.equal(parseGoDuration(text), undefined, text)
  }
})
