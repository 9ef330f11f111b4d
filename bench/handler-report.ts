/** What a bench handler tells the bench, over the child's IPC channel (used by our handlers and the peers'). */
export type HandlerMessage =
  | { type: 'first'; t: number }
  | { type: 'count'; count: number; t: number }
  | { type: 'start'; id: number | string; t: number; replica?: string; t0?: number }
  | { type: 'ready' | 'trickle-done'; t: number }
  | { type: 'stopped'; handled: number; maxRssKiB: number };

export const wallNow = (): number => performance.timeOrigin + performance.now();

/** Returns a function to call once per execution: it reports the first one and every `every`-th (0: none). */
export function executionCounter(every: number): () => void {
  let count = 0;
  return () => {
    count++;
    if (count === 1) process.send?.({ type: 'first', t: wallNow() } satisfies HandlerMessage);
    if (every > 0 && count % every === 0)
      process.send?.({ type: 'count', count, t: wallNow() } satisfies HandlerMessage);
  };
}
