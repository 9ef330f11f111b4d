import { PermanentFailure, RetryLater, coerceError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { FailedRecord, Handler } from './handler.js';

export type ExecutionOutcome =
  | { kind: 'succeeded' }
  | { kind: 'failed'; error: Error; retryAfterMs?: number }
  | { kind: 'dead'; error: Error };

export interface ExecuteArgs {
  handler: Handler | undefined;
  knownKinds: string;
  record: FailedRecord;
  /** Aborts on a lost database connection or at the end of the shutdown timeout; the timeout is added here. */
  signal: AbortSignal;
  timeoutMs: number;
  /** After the signal aborts, how long to wait for a handler that ignores it before giving up on it. */
  abandonAfterMs: number;
  fencingToken: number;
  replicaId: string;
  log: Logger;
}

export class ExecutionTimeout extends Error {
  override readonly name = 'ExecutionTimeout';
}

/** Runs one handler under a timeout and a signal, and classifies how it ended. Never throws. */
export async function executeRecord(args: ExecuteArgs): Promise<ExecutionOutcome> {
  const { handler, record } = args;
  if (!handler) {
    return { kind: 'dead', error: new PermanentFailure(`unknown kind ${JSON.stringify(record.kind)}: no handler is registered for it (known kinds: ${args.knownKinds})`) };
  }
  // One controller per execution, aborted by the parent signal (with its reason) or by the timeout. Cheaper
  // than AbortSignal.any() plus a second controller, which dominated the per-record cost of short handlers.
  const controller = new AbortController();
  const signal = controller.signal;
  const onParentAbort = () => controller.abort(args.signal.reason);
  const timer = setTimeout(() => controller.abort(new ExecutionTimeout(`execution timed out after ${args.timeoutMs} ms`)), args.timeoutMs);
  // Once the signal aborts, a handler that ignores it is given up on after abandonAfterMs.
  let giveUpTimer: NodeJS.Timeout | undefined;
  let giveUp: (value: { done: false }) => void = () => undefined;
  const abandoned = new Promise<{ done: false }>((resolve) => (giveUp = resolve));
  const onAbort = () => {
    giveUpTimer = setTimeout(() => giveUp({ done: false }), args.abandonAfterMs);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  if (args.signal.aborted) onParentAbort();
  else args.signal.addEventListener('abort', onParentAbort, { once: true });
  try {
    const run = (async () => handler(record, { signal, attempt: record.attempt, fencingToken: args.fencingToken, replicaId: args.replicaId, log: args.log }))();
    const settled = await Promise.race([
      run.then(
        () => ({ done: true as const, error: undefined }),
        (thrown: unknown) => ({ done: true as const, error: coerceError(thrown) }),
      ),
      abandoned,
    ]);
    if (!settled.done) {
      args.log.error({ abandonedAfterMs: args.abandonAfterMs }, 'handler ignored its abort signal; giving up on it');
      return { kind: 'failed', error: abortReason(signal) };
    }
    if (settled.error === undefined) return { kind: 'succeeded' };
    if (settled.error instanceof PermanentFailure) return { kind: 'dead', error: settled.error };
    // A handler that stopped because its signal aborted failed for the signal's reason (timeout, shutdown…).
    const error = signal.aborted ? abortReason(signal, settled.error) : settled.error;
    if (settled.error instanceof RetryLater) return { kind: 'failed', error, retryAfterMs: settled.error.retryAfterMs };
    return { kind: 'failed', error };
  } finally {
    clearTimeout(timer);
    clearTimeout(giveUpTimer);
    signal.removeEventListener('abort', onAbort);
    args.signal.removeEventListener('abort', onParentAbort);
  }
}

function abortReason(signal: AbortSignal, fallback?: Error): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return fallback && fallback !== reason && !isAbortError(fallback) ? new Error(`${reason.message}: ${fallback.message}`, { cause: fallback }) : reason;
  return fallback ?? new Error('aborted');
}

function isAbortError(err: Error): boolean {
  return err.name === 'AbortError' || err.name === 'TimeoutError';
}
