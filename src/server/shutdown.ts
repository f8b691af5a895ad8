// Graceful shutdown on SIGTERM (kubelet) and SIGINT (Ctrl-C).
import type { Logger } from 'pino'

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']

/**
 * Resolves once `stop` has finished after the first SIGTERM or SIGINT.
 * A second signal while stopping calls `abort` (cut the connections still open).
 */
export function stopOnSignal (stop: () => Promise<void>, abort: () => void, log: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: closing every connection now')
        abort()
        return
      }
      stopping = true
      log.info({ signal }, 'signal received')
      const done = (): void => { for (const s of SIGNALS) process.off(s, onSignal) }
      stop().then(() => { done(); resolve() }, (err: unknown) => { done(); reject(err instanceof Error ? err : new Error(String(err))) })
    }
    for (const s of SIGNALS) process.on(s, onSignal)
  })
}
