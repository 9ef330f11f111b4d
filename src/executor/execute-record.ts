import { PermanentFailure, RetryLater, coerceError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Abortable, AbortFanout } from './abort-fanout.js';
import type { Deadline, Deadlines, Expiring } from './deadlines.js';
import type { FailedRecord, Handler, HandlerContext } from './handler.js';

export type ExecutionOutcome =
  | { kind: 'succeeded' }
  | { kind: 'failed'; error: Error; retryAfterMs?: number }
  | { kind: 'dead'; error: Error };

/** What the executions of one batch share. */
export interface ExecutionSettings {
  knownKinds: string;
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
 * an execution object, its context, one deadline entry and one promise. An abort (timeout or parent) reaches
 * the signal whether it was read before or after, and starts the give-up clock either way.
 */
export function executeRecord(settings: ExecutionSettings, handler: Handler | undefined, record: FailedRecord): Promise<ExecutionOutcome> {
  if (!handler) {
    return Promise.resolve({ kind: 'dead', error: new PermanentFailure(`unknown kind ${JSON.stringify(record.kind)}: no handler is registered for it (known kinds: ${settings.knownKinds})`) });
  }
  return new Promise<ExecutionOutcome>((resolve) => new Execution(settings, record, resolve).run(handler));
}

/**
 * One execution's state. It is its own timeout's target and its parent's subscriber (no closures per
 * execution for those); the handler sees only its Context.
 */
class Execution implements Expiring, Abortable {
  controller: AbortController | undefined;
  abortReason: unknown;
  aborted = false;
  private settled = false;
  private giveUpTimer: NodeJS.Timeout | undefined;
  private childLog: Logger | undefined;
  private readonly timeout: Deadline;

  constructor(
    readonly settings: ExecutionSettings,
    readonly record: FailedRecord,
    private readonly resolve: (outcome: ExecutionOutcome) => void,
  ) {
    this.timeout = settings.timeouts.add(this);
    settings.parent.subscribe(this);
  }

  run(handler: Handler): void {
    let result: Promise<void> | void;
    try {
      result = handler(this.record, new Context(this));
    } catch (thrown) {
      this.fail(thrown);
      return;
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      // Promise.resolve() adopts any thenable; a `then` that throws becomes a rejection, never an escape.
      Promise.resolve(result).then(
        () => this.finish(SUCCEEDED),
        (thrown: unknown) => this.fail(thrown),
      );
    } else {
      this.finish(SUCCEEDED);
    }
  }

  get log(): Logger {
    const { record } = this;
    return (this.childLog ??= this.settings.log.child({ recordId: record.id, attempt: record.attempt, kind: record.kind }));
  }

  /** The execution timeout passed. */
  expire(): void {
    this.abort(new ExecutionTimeout(`execution timed out after ${this.settings.timeouts.ms} ms`));
  }

  abort(reason: unknown): void {
    if (this.aborted || this.settled) return;
    this.aborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
    this.giveUpTimer = setTimeout(() => {
      this.log.error({ abandonedAfterMs: this.settings.abandonAfterMs }, 'handler ignored its abort signal; giving up on it');
      this.finish({ kind: 'failed', error: reasonError(this.abortReason) });
    }, this.settings.abandonAfterMs);
  }

  private finish(outcome: ExecutionOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.settings.timeouts.cancel(this.timeout);
    if (this.giveUpTimer) clearTimeout(this.giveUpTimer);
    this.settings.parent.unsubscribe(this);
    this.resolve(outcome);
  }

  private fail(thrown: unknown): void {
    const error = coerceError(thrown);
    if (error instanceof PermanentFailure) return this.finish({ kind: 'dead', error });
    // A handler that stopped because its signal aborted failed for the signal's reason (timeout, shutdown…).
    const reported = this.aborted ? reasonError(this.abortReason, error) : error;
    this.finish(error instanceof RetryLater ? { kind: 'failed', error: reported, retryAfterMs: error.retryAfterMs } : { kind: 'failed', error: reported });
  }
}

/**
 * What the handler gets: the execution's facts, and its signal and logger made on first read. `signal` and
 * `log` are own enumerable getters, as on a plain object, so a wrapper that copies the context
 * (`{ ...ctx, log }`) keeps them; defined from one shared descriptor map, they cost no closure per execution.
 */
class Context implements HandlerContext {
  readonly #execution: Execution;
  readonly attempt: number;
  readonly fencingToken: number;
  readonly replicaId: string;
  declare readonly signal: AbortSignal;
  declare readonly log: Logger;

  constructor(execution: Execution) {
    this.#execution = execution;
    this.attempt = execution.record.attempt;
    this.fencingToken = execution.settings.fencingToken;
    this.replicaId = execution.settings.replicaId;
    Object.defineProperties(this, CONTEXT_GETTERS);
  }

  static signalOf(ctx: Context): AbortSignal {
    const execution = ctx.#execution;
    if (!execution.controller) {
      execution.controller = new AbortController();
      if (execution.aborted) execution.controller.abort(execution.abortReason);
    }
    return execution.controller.signal;
  }

  static logOf(ctx: Context): Logger {
    return ctx.#execution.log;
  }
}

const CONTEXT_GETTERS: PropertyDescriptorMap = {
  signal: {
    enumerable: true,
    get(this: Context) {
      return Context.signalOf(this);
    },
  },
  log: {
    enumerable: true,
    get(this: Context) {
      return Context.logOf(this);
    },
  },
};

function reasonError(reason: unknown, fallback?: Error): Error {
  if (reason instanceof Error) return fallback && fallback !== reason && !isAbortError(fallback) ? new Error(`${reason.message}: ${fallback.message}`, { cause: fallback }) : reason;
  return fallback ?? new Error('aborted');
}

function isAbortError(err: Error): boolean {
  return err.name === 'AbortError' || err.name === 'TimeoutError';
}
