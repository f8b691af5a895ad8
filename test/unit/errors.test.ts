// The catalogue of the program's errors (src/errors.ts): codes, exits and texts. Its README
// table and its use in src/ are checked by test/repo/errors.test.ts.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { cliError, ConfigError, EgressMtlsError, type ErrorCode, ERRORS } from '../../src/errors.ts'

const codes = Object.keys(ERRORS) as ErrorCode[]

test('codes are EMTLS_CLI_ and upper snake case', () => {
  for (const code of codes) assert.match(code, /^EMTLS_CLI_[A-Z]+(_[A-Z]+)*$/)
})

/** Arguments for each code's text; the type makes a code without a sample fail to compile. */
const SAMPLES: { readonly [C in ErrorCode]: Parameters<(typeof ERRORS)[C]['text']> } = {
  EMTLS_CLI_NO_CONFIG: ['EGRESS_MTLS_CONFIG'],
  EMTLS_CLI_RELEASE_NAMESPACE_ALONE: [],
  EMTLS_CLI_CONFIG_RELEASE_EXCLUSIVE: [],
  EMTLS_CLI_RELEASE_NOT_FOUND: ['egress-mtls', 'istio-system', 'app.kubernetes.io/instance=egress-mtls'],
  EMTLS_CLI_RELEASE_AMBIGUOUS: ['egress-mtls', 'istio-system', 'app.kubernetes.io/instance=egress-mtls', ['a', 'b']],
  EMTLS_CLI_LISTEN_ADDRESS: ['--listen', '8443'],
  EMTLS_CLI_SELF_SIGNED_EXCLUSIVE: [],
  EMTLS_CLI_SERVING_CERT_MISSING: [],
  EMTLS_CLI_SERVE_RELEASE: [],
  EMTLS_CLI_NO_MANIFESTS: [],
  EMTLS_CLI_STDIN_TWICE: [],
  EMTLS_CLI_PRUNE_CONTRADICTION: ['--adopt'],
  EMTLS_CLI_OUTPUT_NEEDS_DRY_RUN: ['yaml'],
  EMTLS_CLI_INSTANCE_INVALID: ['-x-'],
  EMTLS_CLI_CERTS_NAME_INVALID: ['--service', 'A', 'label'],
  EMTLS_CLI_CERTS_VALIDITY: [365, 3650],
  EMTLS_CLI_CERTS_NO_NAMESPACE: [],
  EMTLS_CLI_WORKLOAD_INVALID: ['pod/x'],
  EMTLS_CLI_DOCTOR_FILES_TOGETHER: [],
  EMTLS_CLI_DOCTOR_WORKLOAD_OFFLINE: [],
  EMTLS_CLI_PROBE_FILES_TOGETHER: [],
  EMTLS_CLI_TARGET_UNKNOWN: ['nope', []],
  EMTLS_CLI_TARGET_NAMESPACE_NEEDED: ['bank-api', ['*']],
  EMTLS_CLI_TARGET_GATEWAY_NAMESPACE: ['bank-api', 'egress gateway', 'istio-egress', 'payments'],
  EMTLS_CLI_CONNECT_TO_INVALID: [':443'],
  EMTLS_CLI_NO_KUBECONFIG: [],
  EMTLS_CLI_KUBECONFIG_UNREADABLE: ['kc', 'no such file'],
  EMTLS_CLI_KUBECONFIG_INVALID: ['kc', 'not YAML'],
  EMTLS_CLI_CONTEXT_UNKNOWN: ['kc', 'prod', ['dev']],
  EMTLS_CLI_NO_CURRENT_CONTEXT: ['kc', []],
  EMTLS_CLI_CONTEXT_NO_SERVER: ['kc', 'dev'],
  EMTLS_CLI_API_UNREACHABLE: ['https://127.0.0.1:1', 'ECONNREFUSED'],
  EMTLS_CLI_CONFIG_INVALID: ['c.yaml', [{ path: 'targets', message: 'is required' }]],
  EMTLS_CLI_INPUT_UNREADABLE: ['a.yaml', 'no such file'],
  EMTLS_CLI_DIRECTORY_UNREADABLE: ['k8s', 'permission denied'],
  EMTLS_CLI_MATERIAL_UNREADABLE: ['tls.crt', 'no such file'],
  EMTLS_CLI_INPUT_TOO_LARGE: ['-', 64],
  EMTLS_CLI_INPUT_BINARY: ['a.yaml', 3],
  EMTLS_CLI_INPUT_TOO_DEEP: ['a.yaml', 3, 100],
  EMTLS_CLI_INPUT_SYNTAX: ['a.yaml', undefined, 'Unexpected token'],
  EMTLS_CLI_INPUT_DUPLICATE_KEY: ['a.yaml', 3, 'kind'],
  EMTLS_CLI_INPUT_ALIASES: ['a.yaml', 3, 100],
  EMTLS_CLI_INPUT_TOO_MANY_NODES: ['a.yaml', 3, 1000],
  EMTLS_CLI_DOCUMENT_TOO_LARGE: ['a.yaml', 3, 4],
  EMTLS_CLI_LISTEN_FAILED: ['--listen', ':8443', 'EADDRINUSE'],
  EMTLS_CLI_CERTS_FAILED: ['Forbidden'],
  EMTLS_CLI_OWNED_UNLISTED: ['Forbidden'],
  EMTLS_CLI_OBJECT_UNREADABLE: ['DestinationRule shop/x', 'Forbidden'],
  EMTLS_CLI_TLS_NOT_PEM: ['tls.crt', 'bad base64'],
  EMTLS_CLI_TLS_UNUSABLE_PAIR: ['tls.crt', 'key values mismatch'],
  EMTLS_CLI_TLS_UNREADABLE: ['tls.key', 'ENOENT'],
}

test('texts are bare (main prints `egress-mtls: ` once), one line, and carry their code and exit', () => {
  for (const code of codes) {
    const err = (cliError as (c: ErrorCode, ...args: readonly unknown[]) => EgressMtlsError)(code, ...SAMPLES[code])
    assert.ok(err instanceof EgressMtlsError)
    assert.equal(err.code, code)
    assert.equal(err.exitCode, ERRORS[code].exit)
    assert.match(err.message, /^(?!egress-mtls:)\S[^\n]*$/, code)
  }
  const config = new ConfigError('c.yaml', [{ path: 'targets', message: 'is required', line: 1 }])
  assert.deepEqual([config.code, config.exitCode, config.message], ['EMTLS_CLI_CONFIG_INVALID', 2, 'invalid configuration: c.yaml:1: targets: is required'])
})
