// The webhook's certificates: what src/pki/generate.ts makes, and what src/core/tls/certs.ts
// decides from the stored Secret and caBundles at a given time, at the renewal boundaries.
import assert from 'node:assert/strict'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { describe, test } from 'node:test'

// @peculiar/x509 comes with selfsigned; node:crypto does not expose key-usage bits.
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, X509Certificate as Peculiar } from '@peculiar/x509'

import {
  CA_CERT, CA_KEY, decide, type Decision, type KeyPair, type Observed, type Policy,
  serviceDnsNames, TLS_CERT, TLS_KEY,
  writes,
} from '../../src/core/tls/certs.ts'
import { DAY_MS } from '../../src/core/tls/x509.ts'
import { BACKDATE_MS, generateCa, generateLeaf } from '../../src/pki/generate.ts'

const NAMES = serviceDnsNames('egress-mtls', 'egress-system')
const POLICY: Policy = { dnsNames: NAMES, leafValidityDays: 365, renewFraction: 1 / 3 }
const T0 = new Date('2026-01-01T00:00:00Z')
const at = (base: Date, ms: number): Date => new Date(base.getTime() + ms)
const x509 = (pem: string): X509Certificate => new X509Certificate(pem)

/** The Observed state after `w` was written over `o` (what the next run reads). */
function applied (o: Observed, w: ReturnType<typeof writes>): Observed {
  return {
    secret: w.secretData === undefined ? o.secret : { ...o.secret, ...w.secretData },
    webhooks: o.webhooks.map((h) => (w.webhooks.includes(h.name) ? { name: h.name, caBundle: w.bundle } : h)),
  }
}

/** A consistent stored state: the Secret and both webhooks hold ca (+ previous) and leaf. */
function stored (ca: KeyPair, leaf: KeyPair, previous: readonly string[] = []): Observed {
  const empty: Observed = { secret: undefined, webhooks: [{ name: 'a.egress-mtls.io', caBundle: '' }, { name: 'b.egress-mtls.io', caBundle: '' }] }
  return applied(empty, writes(empty, ca, leaf, previous))
}

/** Runs a decision through generation the way the certs command does. */
async function material (d: Decision, now: Date): Promise<{ ca: KeyPair, leaf: KeyPair }> {
  if (d.issue === 'none') return { ca: d.ca, leaf: d.leaf }
  const ca = d.issue === 'ca' ? await generateCa(now, 3650) : d.ca
  return { ca, leaf: await generateLeaf(ca, NAMES, now, POLICY.leafValidityDays) }
}

const bundleOf = (text: string): string[] => (text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((p) => x509(p).fingerprint256)

const CA = await generateCa(T0, 3650)
const LEAF = await generateLeaf(CA, NAMES, T0, 365)

describe('generated certificates', () => {
  const ca = x509(CA.cert)
  const leaf = x509(LEAF.cert)

  test('the leaf chains to the CA', () => {
    assert.ok(leaf.verify(ca.publicKey))
    assert.ok(leaf.checkIssued(ca))
    assert.ok(ca.verify(ca.publicKey), 'the CA is self-signed')
    assert.ok(leaf.checkPrivateKey(createPrivateKey(LEAF.key)))
    assert.ok(ca.checkPrivateKey(createPrivateKey(CA.key)))
  })

  test('CA: CA:true (critical), keyCertSign and cRLSign, 10 years', () => {
    assert.equal(ca.ca, true)
    const p = new Peculiar(CA.cert)
    const bc = p.getExtension(BasicConstraintsExtension)
    assert.equal(bc?.ca, true)
    assert.equal(bc.critical, true)
    assert.equal(p.getExtension(KeyUsagesExtension)?.usages, KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)
    assert.equal(ca.validFromDate.getTime(), T0.getTime() - BACKDATE_MS)
    assert.equal(ca.validToDate.getTime(), T0.getTime() + 3650 * DAY_MS)
  })

  test('leaf: CA:false, digitalSignature, serverAuth only, the four service names, 1 year', () => {
    assert.equal(leaf.ca, false)
    const p = new Peculiar(LEAF.cert)
    assert.equal(p.getExtension(BasicConstraintsExtension)?.ca, false)
    assert.equal(p.getExtension(KeyUsagesExtension)?.usages, KeyUsageFlags.digitalSignature)
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1'])
    assert.equal(leaf.subjectAltName, 'DNS:egress-mtls, DNS:egress-mtls.egress-system, DNS:egress-mtls.egress-system.svc, DNS:egress-mtls.egress-system.svc.cluster.local')
    assert.equal(leaf.checkHost('egress-mtls.egress-system.svc'), 'egress-mtls.egress-system.svc')
    assert.equal(leaf.validToDate.getTime(), T0.getTime() + 365 * DAY_MS)
  })

  test('EC P-256 keys and ECDSA with SHA-256 signatures (Go rejects SHA-1)', () => {
    for (const [pair, cert] of [[CA, ca], [LEAF, leaf]] as const) {
      const key = createPrivateKey(pair.key)
      assert.equal(key.asymmetricKeyType, 'ec')
      assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1')
      assert.equal(cert.signatureAlgorithm, 'ecdsa-with-SHA256')
      assert.deepEqual(new Peculiar(pair.cert).signatureAlgorithm, { name: 'ECDSA', hash: { name: 'SHA-256' } })
    }
  })

  test('a leaf never outlives its CA', async () => {
    const late = at(T0, 3500 * DAY_MS)
    const l = x509((await generateLeaf(CA, NAMES, late, 365)).cert)
    assert.equal(l.validToDate.getTime(), ca.validToDate.getTime())
  })
})

describe('first run and later runs', () => {
  test('no Secret: a new CA and leaf; the bundle goes to the Secret and every webhook; then nothing', async () => {
    const empty: Observed = { secret: undefined, webhooks: [{ name: 'a', caBundle: '' }, { name: 'b', caBundle: '' }] }
    const d = decide(empty, POLICY, T0)
    assert.equal(d.issue, 'ca')
    assert.deepEqual(d.reasons, ['the Secret does not exist'])
    const m = await material(d, T0)
    const w = writes(empty, m.ca, m.leaf, d.previous)
    assert.deepEqual(w.webhooks, ['a', 'b'])
    assert.deepEqual(Object.keys(w.secretData ?? {}).sort(), [CA_CERT, CA_KEY, TLS_CERT, TLS_KEY])
    assert.deepEqual(bundleOf(w.bundle), [x509(m.ca.cert).fingerprint256])
    assert.equal(w.secretData?.[CA_CERT], w.bundle)

    const next = applied(empty, w)
    for (const now of [T0, at(T0, 100 * DAY_MS)]) {
      const again = decide(next, POLICY, now)
      assert.equal(again.issue, 'none')
      const w2 = writes(next, again.ca, again.leaf, again.previous)
      assert.equal(w2.secretData, undefined)
      assert.deepEqual(w2.webhooks, [])
      assert.deepEqual(w2.reasons, [])
    }
  })

  test('a webhook configuration with no webhooks yet (or none at all): only the Secret', async () => {
    const o: Observed = { secret: undefined, webhooks: [] }
    const d = decide(o, POLICY, T0)
    const m = await material(d, T0)
    const w = writes(o, m.ca, m.leaf, d.previous)
    assert.deepEqual(w.webhooks, [])
    assert.notEqual(w.secretData, undefined)
  })
})

describe('leaf renewal', () => {
  const leaf = x509(LEAF.cert)
  const total = leaf.validToDate.getTime() - leaf.validFromDate.getTime()
  assert.equal(total % 3, 0, 'the test needs a validity divisible by 3 ms')
  const third = at(leaf.validToDate, -total / 3)
  const state = stored(CA, LEAF)

  test('exactly one third left: not yet', () => {
    assert.equal(decide(state, POLICY, third).issue, 'none')
  })
  test('just above one third left: not yet', () => {
    assert.equal(decide(state, POLICY, at(third, -1000)).issue, 'none')
  })
  test('just below one third left: a new leaf from the same CA, and only the Secret changes', async () => {
    const now = at(third, 1000)
    const d = decide(state, POLICY, now)
    assert.equal(d.issue, 'leaf')
    assert.match(d.reasons.join('\n'), /the serving certificate has 121\.7 of 365\.0 days left, less than 33\.3%/)
    const m = await material(d, now)
    assert.equal(m.ca.cert, x509(CA.cert).toString())
    assert.equal(m.ca.key, CA.key)
    const w = writes(state, m.ca, m.leaf, d.previous)
    assert.deepEqual(w.webhooks, [], 'same CA: the caBundle stays as it is')
    assert.equal(w.secretData?.[TLS_CERT], m.leaf.cert)
    assert.equal(decide(applied(state, w), POLICY, now).issue, 'none')
  })
  test('the renew fraction is honoured', () => {
    const now = at(T0, 200 * DAY_MS)
    assert.equal(decide(state, POLICY, now).issue, 'none')
    assert.equal(decide(state, { ...POLICY, renewFraction: 0.5 }, now).issue, 'leaf')
  })
  test('expired', () => {
    const d = decide(state, POLICY, at(leaf.validToDate, 1000))
    assert.equal(d.issue, 'leaf')
    assert.match(d.reasons.join('\n'), /the serving certificate expired on 2027-01-01T00:00:00.000Z/)
  })
  test('wrong SANs (another service or namespace)', () => {
    const d = decide(state, { ...POLICY, dnsNames: serviceDnsNames('egress-mtls', 'other') }, T0)
    assert.equal(d.issue, 'leaf')
    assert.match(d.reasons.join('\n'), /tls\.crt names DNS:egress-mtls, .*; wanted DNS:egress-mtls, DNS:egress-mtls\.other,/)
  })
  test('a leaf of another CA, a key that does not match, a missing key', async () => {
    const otherCa = await generateCa(T0, 3650)
    const foreign = await generateLeaf(otherCa, NAMES, T0, 365)
    const cases: [Record<string, string>, RegExp][] = [
      [{ [TLS_CERT]: foreign.cert, [TLS_KEY]: foreign.key }, /tls\.crt is not signed by the current CA 'CN=egress-mtls webhook CA 2026-01-01T00:00:00.000Z'/],
      [{ [TLS_KEY]: foreign.key }, /tls\.key does not match tls\.crt/],
      [{ [TLS_KEY]: '' }, /tls\.key is missing/],
      [{ [TLS_KEY]: 'not a key' }, /tls\.key is not a PEM private key/],
      [{ [TLS_CERT]: CA.cert, [TLS_KEY]: CA.key }, /tls\.crt is a CA certificate/],
    ]
    for (const [edit, reason] of cases) {
      const o: Observed = { ...state, secret: { ...state.secret, ...edit } }
      const d = decide(o, POLICY, T0)
      assert.equal(d.issue, 'leaf', reason.source)
      assert.match(d.reasons.join('\n'), reason)
    }
  })
})

describe('hand edits are repaired', () => {
  const state = stored(CA, LEAF)

  test('garbage tls.crt: a new leaf', () => {
    const d = decide({ ...state, secret: { ...state.secret, [TLS_CERT]: 'garbage' } }, POLICY, T0)
    assert.equal(d.issue, 'leaf')
    assert.deepEqual(d.reasons, ['tls.crt is not a PEM certificate'])
  })
  test('garbage or missing ca.key: a new CA and leaf', () => {
    for (const [value, reason] of [['garbage', 'ca.key is not a PEM private key'], ['', 'ca.key is missing'], [LEAF.key, 'no certificate in ca.crt or the caBundle matches ca.key']] as const) {
      const d = decide({ ...state, secret: { ...state.secret, [CA_KEY]: value } }, POLICY, T0)
      assert.equal(d.issue, 'ca')
      assert.deepEqual(d.reasons, [reason])
      assert.deepEqual(d.previous.map((p) => x509(p).fingerprint256), [x509(CA.cert).fingerprint256], 'the CA of the leaf still served stays in the bundle')
    }
  })
  test('an empty Secret: a new CA and leaf', () => {
    const d = decide({ ...state, secret: {} }, POLICY, T0)
    assert.equal(d.issue, 'ca')
    assert.deepEqual(d.previous, [])
  })
  test('garbage ca.crt, bundle intact: only ca.crt is rewritten, with the reason', () => {
    const o: Observed = { ...state, secret: { ...state.secret, [CA_CERT]: 'garbage' } }
    const d = decide(o, POLICY, T0)
    assert.equal(d.issue, 'none')
    const w = writes(o, d.ca, d.leaf, d.previous)
    assert.deepEqual(w.webhooks, [])
    assert.equal(w.secretData?.[CA_CERT], state.secret?.[CA_CERT])
    assert.deepEqual(w.reasons, ['ca.crt holds no PEM certificate'])
  })
  test('a caBundle emptied, another with an extra certificate and junk: only those webhooks', async () => {
    const stranger = await generateCa(T0, 10)
    const o: Observed = {
      ...state,
      webhooks: [
        { name: 'a.egress-mtls.io', caBundle: '' },
        { name: 'b.egress-mtls.io', caBundle: `${CA.cert}${stranger.cert}junk\n` },
        { name: 'c.egress-mtls.io', caBundle: state.webhooks[0]?.caBundle ?? '' },
      ],
    }
    const d = decide(o, POLICY, T0)
    assert.equal(d.issue, 'none')
    const w = writes(o, d.ca, d.leaf, d.previous)
    assert.equal(w.secretData, undefined)
    assert.deepEqual(w.webhooks, ['a.egress-mtls.io', 'b.egress-mtls.io'])
    assert.equal(w.reasons[0], 'the caBundle of webhook a.egress-mtls.io is empty')
    assert.match(w.reasons[1] ?? '', /^the caBundle of webhook b\.egress-mtls\.io holds text that is not a PEM certificate; holds 'CN=egress-mtls webhook CA 2026-01-01T00:00:00\.000Z' \(until 2026-01-11\), not wanted$/)
  })
  test('formatting alone is no reason to write', () => {
    const o: Observed = { ...state, webhooks: state.webhooks.map((h) => ({ ...h, caBundle: h.caBundle.replace(/\n/g, '\r\n') })) }
    const d = decide(o, POLICY, T0)
    assert.equal(d.issue, 'none')
    assert.deepEqual(writes(o, d.ca, d.leaf, d.previous).webhooks, [])
  })
})

describe('CA rollover', () => {
  const ca = x509(CA.cert)
  const caTotal = ca.validToDate.getTime() - ca.validFromDate.getTime()
  assert.equal(caTotal % 3, 0)
  const third = at(ca.validToDate, -caTotal / 3)

  test('one third of the CA left: kept; just below: new CA, the old one carried', async () => {
    const leaf = await generateLeaf(CA, NAMES, at(third, -DAY_MS), 365)
    const state = stored(CA, leaf)
    assert.equal(decide(state, POLICY, third).issue, 'none')
    assert.equal(decide(state, POLICY, at(third, -1000)).issue, 'none')
    const d = decide(state, POLICY, at(third, 1000))
    assert.equal(d.issue, 'ca')
    assert.match(d.reasons.join('\n'), /^the CA 'CN=egress-mtls webhook CA 2026-01-01T00:00:00\.000Z' \(until 2035-12-30\) has 1216\.7 of 3650\.0 days left, less than 33\.3%$/)
    assert.deepEqual(d.previous, [ca.toString()])
  })

  test('less CA validity left than a new leaf needs: new CA', async () => {
    const short = await generateCa(T0, 1000)
    const end = x509(short.cert).validToDate
    const leaf = await generateLeaf(short, NAMES, at(end, -366 * DAY_MS), 365)
    const state = stored(short, leaf)
    assert.equal(decide(state, POLICY, at(end, -365 * DAY_MS)).issue, 'none')
    const d = decide(state, POLICY, at(end, -365 * DAY_MS + 1000))
    assert.equal(d.issue, 'ca')
    assert.match(d.reasons.join('\n'), /has 365\.0 days left, less than a new leaf's 365\.0/)
  })

  test('the whole life of a rollover: old+new, then only new once the new leaf is renewed', async () => {
    // Before: the old CA near its end and a leaf it signed.
    const t1 = at(third, DAY_MS)
    const oldLeaf = await generateLeaf(CA, NAMES, at(t1, -10 * DAY_MS), 365)
    const before = stored(CA, oldLeaf)
    const d1 = decide(before, POLICY, t1)
    assert.equal(d1.issue, 'ca')
    const m1 = await material(d1, t1)
    const w1 = writes(before, m1.ca, m1.leaf, d1.previous)
    const oldFp = ca.fingerprint256
    const newFp = x509(m1.ca.cert).fingerprint256
    // Both webhooks get old+new: the leaf served now (old CA) and the new one both verify.
    assert.deepEqual(w1.webhooks, ['a.egress-mtls.io', 'b.egress-mtls.io'])
    assert.deepEqual(bundleOf(w1.bundle), [newFp, oldFp])
    assert.deepEqual(bundleOf(w1.secretData?.[CA_CERT] ?? ''), [newFp, oldFp])
    assert.ok(x509(oldLeaf.cert).verify(ca.publicKey))
    assert.ok(x509(m1.leaf.cert).verify(x509(m1.ca.cert).publicKey))

    // While the new leaf is current: the old CA stays, nothing is written.
    const after = applied(before, w1)
    const d2 = decide(after, POLICY, at(t1, 200 * DAY_MS))
    assert.equal(d2.issue, 'none')
    assert.deepEqual(d2.previous.map((p) => x509(p).fingerprint256), [oldFp])
    assert.match(d2.notes.join('\n'), /carrying the previous CA 'CN=egress-mtls webhook CA 2026-01-01/)
    const w2 = writes(after, d2.ca, d2.leaf, d2.previous)
    assert.equal(w2.secretData, undefined)
    assert.deepEqual(w2.webhooks, [])

    // The new leaf is renewed: no leaf of the old CA can be served any more; it goes.
    const t3 = at(t1, 250 * DAY_MS)
    const d3 = decide(after, POLICY, t3)
    assert.equal(d3.issue, 'leaf')
    assert.deepEqual(d3.previous, [])
    assert.match(d3.notes.join('\n'), /dropped the previous CA 'CN=egress-mtls webhook CA 2026-01-01T00:00:00\.000Z' .* no certificate it signed is served any more/)
    const m3 = await material(d3, t3)
    const w3 = writes(after, m3.ca, m3.leaf, d3.previous)
    assert.deepEqual(bundleOf(w3.bundle), [newFp])
    assert.deepEqual(w3.webhooks, ['a.egress-mtls.io', 'b.egress-mtls.io'])
  })

  test('an expired previous CA leaves the bundle even while the leaf is current', async () => {
    const old = await generateCa(T0, 30)
    const state = stored(CA, LEAF, [old.cert])
    const inside = decide(state, POLICY, at(T0, 29 * DAY_MS))
    assert.equal(inside.issue, 'none')
    assert.equal(inside.previous.length, 1)
    const now = at(T0, 31 * DAY_MS)
    const d = decide(state, POLICY, now)
    assert.equal(d.issue, 'none')
    assert.deepEqual(d.previous, [])
    assert.match(d.notes.join('\n'), /dropped the previous CA .* it expired/)
    const w = writes(state, d.ca, d.leaf, d.previous)
    assert.deepEqual(bundleOf(w.bundle), [x509(CA.cert).fingerprint256])
    assert.notEqual(w.secretData, undefined)
    assert.equal(w.webhooks.length, 2)
  })

  test('a CA rotated while its leaf is expired: the old CA is not carried', async () => {
    const short = await generateCa(T0, 400)
    const leaf = await generateLeaf(short, NAMES, T0, 365)
    const d = decide(stored(short, leaf), POLICY, at(T0, 366 * DAY_MS))
    assert.equal(d.issue, 'ca')
    assert.deepEqual(d.previous, [])
  })
})
