// Generates charts/egress-mtls/values.schema.json: the chart's values, with `config`
// validated by the CLI's own configuration schema (configSchema of src/core/config/schema.ts).
//
//   npx node scripts/gen-values-schema.ts           writes the file
//   npx node scripts/gen-values-schema.ts --check   exits 1 when the committed file is stale
//
// Helm validates values with a Go JSON Schema library whose `pattern` uses Go's regexp
// (RE2): no lookahead. configSchema's DNS-name pattern starts with `(?=.{1,253}$)`, which
// Helm rejects ("invalid regex"), so helmCompatible() turns that prefix into
// minLength/maxLength and refuses any other lookaround.
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

import { configSchema } from '../src/core/config/schema.ts'

export const SCHEMA_PATH = fileURLToPath(new URL('../charts/egress-mtls/values.schema.json', import.meta.url))

type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json }
type JsonObject = Record<string, Json>

const LENGTH_LOOKAHEAD = /^\^\(\?=\.\{(\d+),(\d+)\}\$\)/
const UNSUPPORTED = /\(\?<?[=!]|\\[1-9]/

/** A copy of `schema` whose patterns Go's regexp accepts, meaning the same strings. */
export function helmCompatible (schema: Json): Json {
  if (Array.isArray(schema)) return (schema as readonly Json[]).map(helmCompatible)
  if (typeof schema !== 'object' || schema === null) return schema
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(schema as JsonObject)) {
    if (key === 'pattern' && typeof value === 'string') continue
    out[key] = helmCompatible(value)
  }
  const pattern = (schema as JsonObject)['pattern']
  if (typeof pattern === 'string') {
    let p = pattern
    const m = LENGTH_LOOKAHEAD.exec(p)
    if (m !== null) {
      const [whole, min, max] = m as unknown as [string, string, string]
      p = `^${p.slice(whole.length)}`
      const minLength = Math.max(Number(min), typeof out['minLength'] === 'number' ? out['minLength'] : 0)
      const maxLength = Math.min(Number(max), typeof out['maxLength'] === 'number' ? out['maxLength'] : Infinity)
      if (minLength > 0) out['minLength'] = minLength
      out['maxLength'] = maxLength
    }
    if (UNSUPPORTED.test(p)) throw new Error(`pattern ${JSON.stringify(pattern)}: Go's regexp (Helm) has no lookaround or backreference; teach helmCompatible() an equivalent`)
    out['pattern'] = p
  }
  return out
}

const str = (description: string, extra: JsonObject = {}): JsonObject => ({ type: 'string', description, ...extra })
const int = (description: string, minimum: number, extra: JsonObject = {}): JsonObject => ({ type: 'integer', description, minimum, ...extra })
const stringMap = (description: string): JsonObject => ({ type: 'object', description, additionalProperties: { type: 'string' } })
const quantity = { anyOf: [{ type: 'string', pattern: '^[0-9.]+[a-zA-Z]*$' }, { type: 'number', minimum: 0 }] }
const resources = (description: string): JsonObject => ({
  type: 'object',
  description,
  additionalProperties: false,
  properties: {
    requests: { type: 'object', additionalProperties: quantity },
    limits: { type: 'object', additionalProperties: quantity },
  },
})
const cron = (description: string): JsonObject => str(description, { minLength: 1, pattern: '^(@[a-z]+|\\S+( \\S+){4})$' })
const port = (description: string): JsonObject => int(description, 1, { maximum: 65535 })
const pullSecrets: JsonObject = {
  type: 'array',
  items: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string', minLength: 1 } } },
}
const duration = (description: string): JsonObject => str(description, { pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$' })
/** What every pod of the chart has, chart-wide and per part (webhook, certs, provision). */
const podValues = (who: string): Record<string, JsonObject> => ({
  podLabels: stringMap(`Extra labels of ${who}.`),
  podAnnotations: stringMap(`Extra annotations of ${who}.`),
  nodeSelector: stringMap(`Node selector of ${who}.`),
  tolerations: { type: 'array', description: `Tolerations of ${who}.`, items: { type: 'object' } },
  affinity: { type: 'object', description: `Affinity of ${who}.` },
  priorityClassName: str(`Priority class of ${who}.`),
  podSecurityContext: { type: 'object', description: `Pod securityContext of ${who}, merged over the defaults.` },
  containerSecurityContext: { type: 'object', description: `Container securityContext of ${who}, merged over the defaults.` },
})
/** A part's own pod values: replace (placement) or merge over (labels, security) the chart-wide ones. */
const partValues = (part: string): Record<string, JsonObject> => ({
  ...podValues(`the ${part} pods (empty: the chart-wide value)`),
  extraArgs: { type: 'array', description: `Arguments appended to the ${part} command.`, items: { type: 'string' } },
  extraEnv: {
    type: 'array',
    description: `Environment variables (EnvVar objects) of the ${part} container.`,
    items: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } },
  },
})

/** The whole values.schema.json. */
export function valuesSchema (): Json {
  const config = helmCompatible(configSchema) as JsonObject
  delete config['$schema']
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'egress-mtls chart values',
    description: 'Generated by scripts/gen-values-schema.ts from src/core/config/schema.ts; do not edit by hand.',
    type: 'object',
    additionalProperties: false,
    properties: {
      global: {
        type: 'object',
        description: 'Values a parent chart shares with its subcharts.',
        properties: {
          imageRegistry: str('Registry put in front of image.repository.', { pattern: '^([^/\\s]+(/[^/\\s]+)*/?)?$' }),
          imagePullSecrets: pullSecrets,
        },
      },
      nameOverride: str('Replaces the chart name in resource names.', { maxLength: 40, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$' }),
      fullnameOverride: str('Replaces the release-chart name prefix of every resource.', { maxLength: 40, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$' }),
      image: {
        type: 'object',
        additionalProperties: false,
        required: ['repository'],
        properties: {
          repository: str('Image repository; the same image runs every part.', { minLength: 1 }),
          tag: str('Image tag; empty means the chart appVersion.'),
          digest: str('Image digest (sha256:...); when set it is used instead of the tag.', { pattern: '^(sha256:[a-f0-9]{64})?$' }),
          pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
        },
      },
      imagePullSecrets: pullSecrets,
      commonLabels: stringMap('Labels added to every object.'),
      ...podValues('every pod (webhook, Jobs, CronJobs)'),
      config: { ...config, description: 'The egress-mtls configuration file (docs/design.md "Configuration"), rendered into the ConfigMap.' },
      webhook: {
        type: 'object',
        additionalProperties: false,
        properties: {
          replicaCount: int('Webhook replicas.', 1),
          failurePolicy: { enum: ['', 'Fail', 'Ignore'], description: 'Empty: Fail in label and namespace modes, Ignore in cluster mode.' },
          timeoutSeconds: int('Admission timeout of the API server calling the webhook.', 1, { maximum: 30 }),
          logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] },
          podDisruptionBudget: {
            type: 'object',
            additionalProperties: false,
            properties: { minAvailable: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^[0-9]+%$' }] } },
          },
          resources: resources('Webhook container resources.'),
          nodeOptions: str('NODE_OPTIONS of the webhook container (V8 heap flags; see values.yaml).'),
          port: port('HTTPS port of the webhook container (the node\'s, with hostNetwork).'),
          metricsPort: port('Metrics and health port of the webhook container.'),
          shutdownDelaySeconds: int('Seconds a webhook pod serves on after SIGTERM (unready, each answer ending its connection) before it drains.', 0, { maximum: 600 }),
          hostNetwork: { type: 'boolean', description: 'Run the webhook pods in the node\'s network namespace.' },
          ...partValues('webhook'),
        },
      },
      certs: {
        type: 'object',
        additionalProperties: false,
        properties: {
          caValidityDays: int('Validity of a new CA.', 1),
          leafValidityDays: int('Validity of a new serving certificate.', 1),
          renewFraction: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, description: 'Renew when less than this fraction of the validity is left.' },
          schedule: cron('Cron schedule of the renewal CronJob.'),
          resources: resources('Certs Job container resources.'),
          ...partValues('certs'),
        },
      },
      provision: {
        type: 'object',
        additionalProperties: false,
        properties: {
          timeoutSeconds: int('provision --timeout: give up retrying transient API errors after this long.', 1),
          cronJob: {
            type: 'object',
            additionalProperties: false,
            properties: {
              enabled: { type: 'boolean', description: 'Re-converge drift on a schedule.' },
              schedule: cron('Cron schedule of the re-converging CronJob.'),
            },
          },
          resources: resources('Provision Job container resources.'),
          ...partValues('provision'),
        },
      },
      monitor: {
        type: 'object',
        additionalProperties: false,
        properties: {
          enabled: { type: 'boolean', description: 'Run the monitor (egress-mtls monitor): metrics of the targets\' client certificates.' },
          logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] },
          metricsPort: port('Metrics and health port of the monitor container.'),
          resources: resources('Monitor container resources.'),
          prometheusRule: {
            type: 'object',
            additionalProperties: false,
            properties: {
              enabled: { type: 'boolean', description: 'Render a PrometheusRule (Prometheus Operator) with the client certificate alerts.' },
              warningDays: int('Warn when a client certificate expires within this many days.', 1),
              criticalDays: int('Critical when a client certificate expires within this many days.', 1),
              for: duration('How long an alert condition holds before it fires.'),
              labels: stringMap('Extra labels of the PrometheusRule (those your Prometheus selects rules by).'),
            },
          },
          ...partValues('monitor'),
        },
      },
      metrics: {
        type: 'object',
        additionalProperties: false,
        properties: {
          service: {
            type: 'object',
            additionalProperties: false,
            properties: { port: port('Port of the metrics Service.'), annotations: stringMap('Annotations of the metrics Service.') },
          },
          scrapeAnnotations: { type: 'boolean', description: 'prometheus.io/scrape, port and path annotations on the webhook pods.' },
          serviceMonitor: {
            type: 'object',
            additionalProperties: false,
            properties: {
              enabled: { type: 'boolean', description: 'Render a ServiceMonitor (Prometheus Operator).' },
              interval: { anyOf: [{ const: '' }, duration('Scrape interval.')] },
              scrapeTimeout: { anyOf: [{ const: '' }, duration('Scrape timeout.')] },
              labels: stringMap('Extra labels of the ServiceMonitor.'),
            },
          },
        },
      },
      keyBoundary: {
        type: 'object',
        additionalProperties: false,
        properties: {
          enabled: { type: 'boolean', description: 'Refuse pods in which a container other than istio-proxy mounts a volume of a target Secret.' },
        },
      },
      certManager: {
        type: 'object',
        additionalProperties: false,
        properties: {
          enabled: { type: 'boolean', description: 'The serving certificate from cert-manager instead of the certs Jobs.' },
          issuerRef: {
            type: 'object',
            description: 'An existing issuer; empty: a self-signed Issuer.',
            additionalProperties: false,
            properties: { name: { type: 'string', minLength: 1 }, kind: { type: 'string', minLength: 1 }, group: { type: 'string', minLength: 1 } },
            anyOf: [{ maxProperties: 0 }, { required: ['name'], properties: { name: { type: 'string' } } }],
          },
          duration: duration('Validity of the certificate.'),
          renewBefore: duration('Renew this long before it expires.'),
        },
      },
      networkPolicy: {
        type: 'object',
        additionalProperties: false,
        properties: {
          enabled: { type: 'boolean', description: 'Render a NetworkPolicy for the webhook pods.' },
          apiServerCIDRs: {
            type: 'array',
            description: "The API server's source addresses (CIDRs), admitted to the HTTPS port.",
            items: { type: 'string', pattern: '^[0-9a-fA-F.:]+/[0-9]{1,3}$' },
          },
          webhookFrom: { type: 'array', description: 'More peers allowed to the HTTPS port.', items: { type: 'object' } },
          webhookFromAnywhere: { type: 'boolean', description: 'The HTTPS port open to every source, pods included (not recommended).' },
          metricsFrom: { type: 'array', description: 'Peers allowed to the metrics port; empty: any.', items: { type: 'object' } },
        },
      },
    },
  }
}

/** The file's exact text. */
export function valuesSchemaText (): string {
  return `${JSON.stringify(valuesSchema(), null, 2)}\n`
}

if (import.meta.main) {
  const want = valuesSchemaText()
  if (process.argv.includes('--check')) {
    const have = await readFile(SCHEMA_PATH, 'utf8').catch(() => '')
    if (have !== want) {
      process.stderr.write(`${SCHEMA_PATH} is out of date: run npx node scripts/gen-values-schema.ts\n`)
      process.exitCode = 1
    }
  } else {
    await writeFile(SCHEMA_PATH, want)
    process.stdout.write(`wrote ${SCHEMA_PATH}\n`)
  }
}
