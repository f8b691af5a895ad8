// The workload kinds of docs/design.md "Who is injected" and where each keeps its pod template,
// written out independently of src/core/admission/workloads.ts so that the tests check it.
export const KINDS = {
  Deployment: { group: 'apps', path: ['spec', 'template'] },
  StatefulSet: { group: 'apps', path: ['spec', 'template'] },
  DaemonSet: { group: 'apps', path: ['spec', 'template'] },
  ReplicaSet: { group: 'apps', path: ['spec', 'template'] },
  Job: { group: 'batch', path: ['spec', 'template'] },
  CronJob: { group: 'batch', path: ['spec', 'jobTemplate', 'spec', 'template'] },
} as const

export type Kind = keyof typeof KINDS
