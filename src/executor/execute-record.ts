import { PermanentFailure, RetryLater, coerceError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { AbortFanout } from './abort-fanout.js';
import type { Deadlines } from './deadlines.js';
import type { FailedRecord, Handler, HandlerContext } from './handler.js';

export type ExecutionOutcome =
  | { kind: 'succeeded' }
  | { kind: 'failed'; error: Error; retryAfterMs?: number }
  | { kind: 'dead'; error: Error };

export interface ExecuteArgs {
  handler: Handler | undefined;
  knownKinds: string;
  record: FailedRecord;
  /** Aborts on a lost database connection or at the end of the shutdown timeout; the timeout is added here. */
  parent: AbortFanout;
  /** The execution timeout: its deadline is added when the handler starts. */
  timeouts: Deadlines;
  /** After the signal aborts, how long to wait for a handler that ignores it before giving up on it. */
  abandonAfterMs: number;
  fencingToken: number;
  replicaId: string;
  /** The batch's logger: the handler's ctx.log is a child of it bound to recordId, attempt and kind. */
  log: Logger;
}

export class ExecutionTimeout extends Error {
  override readonly name = 'ExecutionTimeout';
}

const SUCCEEDED: ExecutionOutcome = Object.freeze({ kind: 'succeeded' });

/**
 * Runs one handler under a timeout and its parent's abort, and classifies how it ended. Never throws.
 *
 * ctx.signal and ctx.log are made when the handler first reads them: a short handler that reads neither costs
 * one deadline entry and one promise. An abort (timeout or parent) reaches the signal whether it was read before or
 * after, and starts the give-up clock either way.
 */
export function executeRecord(args: ExecuteArgs): Promise<ExecutionOutcome> {
  const { handler, record } = args;
  if (!handler) {
    return Promise.resolve({ kind: 'dead', error: new PermanentFailure(`unknown kind ${JSON.stringify(record.kind)}: no handler is registered for it (known kinds: ${args.knownKinds})`) });
  }
  return new Promise<ExecutionOutcome>((resolve) => {
    let controller: AbortController | undefined;
    let abortReason: unknown;
    let aborted = false;
    let giveUpTimer: NodeJS.Timeout | undefined;
    let childLog: Logger | undefined;
    let settled = false;

    const abort = (reason: unknown) => {
      if (aborted || settled) return;
      aborted = true;
      abortReason = reason;
      controller?.abort(reason);
      giveUpTimer = setTimeout(() => {
        ctx.log.error({ abandonedAfterMs: args.abandonAfterMs }, 'handler ignored its abort signal; giving up on it');
        finish({ kind: 'failed', error: reasonError(abortReason) });
      }, args.abandonAfterMs);
    };
    const timeout = args.timeouts.add(() => abort(new ExecutionTimeout(`execution timed out after ${args.timeouts.ms} ms`)));
    const unsubscribe = args.parent.subscribe(abort);

    const finish = (outcome: ExecutionOutcome) => {
      if (settled) return;
      settled = true;
      args.timeouts.cancel(timeout);
      if (giveUpTimer) clearTimeout(giveUpTimer);
      unsubscribe();
      resolve(outcome);
    };
    const fail = (thrown: unknown) => {
      const error = coerceError(thrown);
      if (error instanceof PermanentFailure) return finish({ kind: 'dead', error });
      // A handler that stopped because its signal aborted failed for the signal's reason (timeout, shutdown…).
      const reported = aborted ? reasonError(abortReason, error) : error;
      finish(error instanceof RetryLater ? { kind: 'failed', error: reported, retryAfterMs: error.retryAfterMs } : { kind: 'failed', error: reported });
    };

    const ctx: HandlerContext = {
      attempt: record.attempt,
      fencingToken: args.fencingToken,
      replicaId: args.replicaId,
      get signal() {
        if (!controller) {
          controller = new AbortController();
          if (aborted) controller.abort(abortReason);
        }
        return controller.signal;
      },
      get log() {
        return (childLog ??= args.log.child({ recordId: record.id, attempt: record.attempt, kind: record.kind }));
      },
    };
    let result: Promise<void> | void;
    try {
      result = handler(record, ctx);
    } catch (thrown) {
      fail(thrown);
      return;
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      // Promise.resolve() adopts any thenable; a `then` that throws becomes a rejection, never an escape.
      Promise.resolve(result).then(() => finish(SUCCEEDED), fail);
    } else {
      finish(SUCCEEDED);
    }
  });
}

function reasonError(reason: unknown, fallback?: Error): Error {
  if (reason instanceof Error) return fallback && fallback !== reason && !isAbortError(fallback) ? new Error(`${reason.message}: ${fallback.message}`, { cause: fallback }) : reason;
  return fallback ?? new Error('aborted');
}

function isAbortError(err: Error): boolean {
  return err.name === 'AbortError' || err.name === 'TimeoutError';
}
