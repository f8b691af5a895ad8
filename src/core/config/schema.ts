// The JSON Schema (draft-07) of the configuration file, the patterns it uses and its
// validator. Pure; the chart's values.schema.json embeds the schema (scripts/gen-values-schema.ts).
import { Ajv, type ErrorObject } from 'ajv'

import { DNS1123_HOSTNAME_FORMAT, DNS1123_LABEL_FORMAT } from '../base/name-patterns.ts'
import { egressGatewaySchema, originationSchema } from './egress-gateway.ts'
import { waypointSchema } from './waypoint.ts'

export const DNS_LABEL = DNS1123_LABEL_FORMAT
export const DNS_NAME = DNS1123_HOSTNAME_FORMAT
export const SECRET_KEY = '^[-._a-zA-Z0-9]+$'
/** A Go duration, or `0` / `off` (UNBOUNDED) for maxConnectionDuration turned off. */
export const DURATION = '^(0|off|([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|µs|ns))+)$'

/** What turns maxConnectionDuration off: connections live as long as Envoy and the server keep them. */
export const UNBOUNDED: readonly string[] = ['0', 'off']
const port = { type: 'integer', minimum: 1, maximum: 65535 }
const dnsLabel = { type: 'string', maxLength: 63, pattern: DNS_LABEL }
const dnsName = { type: 'string', pattern: DNS_NAME }
const secretKey = { type: 'string', maxLength: 253, pattern: SECRET_KEY }

/** JSON Schema (draft-07) of the configuration file. The chart's values.schema.json embeds it. */
export const configSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  additionalProperties: false,
  properties: {
    injection: { enum: ['label', 'namespace', 'cluster'] },
    mountRoot: { type: 'string', pattern: '^/[^\\s:,"]*$' },
    annotationFormat: { enum: ['map', 'array'] },
    routing: { enum: ['targetPort', 'virtualService'] },
    workloadSelector: { type: 'boolean' },
    meshRootNamespace: dnsLabel,
    excludeNamespaces: { type: 'array', items: dnsLabel, uniqueItems: true },
    egressGateway: egressGatewaySchema,
    waypoint: waypointSchema,
    tlsStats: { type: 'boolean' },
    targets: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'host', 'namespaces'],
        properties: {
          name: { type: 'string', maxLength: 51, pattern: DNS_LABEL },
          host: dnsName,
          port,
          plainPort: port,
          secretName: dnsName,
          secretKeys: {
            type: 'object',
            additionalProperties: false,
            properties: { cert: secretKey, key: secretKey, cacert: secretKey },
          },
          namespaces: {
            type: 'array',
            minItems: 1,
            uniqueItems: true,
            items: { anyOf: [{ const: '*' }, dnsLabel] },
          },
          sni: dnsName,
          subjectAltNames: { type: 'array', items: { type: 'string', minLength: 1 } },
          verifyServerName: { type: 'boolean' },
          maxConnectionDuration: { anyOf: [{ const: 0 }, { type: 'string', pattern: DURATION }] },
          origination: originationSchema,
        },
      },
    },
  },
} as const

let validator: ReturnType<Ajv['compile']> | undefined

export function validate (value: unknown): readonly ErrorObject[] {
  validator ??= new Ajv({ allErrors: true, strict: true, verbose: true }).compile(configSchema)
  return validator(value) ? [] : (validator.errors ?? [])
}
