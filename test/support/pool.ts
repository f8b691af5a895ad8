// Many API requests at a bounded width, for the tests and the benchmark at scale.

/** Runs `fn` over `items`, `width` at a time. */
export async function pool<T> (items: readonly T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => { while (next < items.length) await fn(items[next++]!) }))
}
