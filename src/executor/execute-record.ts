import { coerceError, ExecutionAborted, PermanentFailure, RetryLater } from '../errors.js';
import type { ExecutionOutcome } from '../loop/attempts.js';
import type { Logger } from '../observability/logger.js';
import type { FailedRecord, Handler, HandlerContext } from './handler.js';

export interface ExecutionSettings {
  timeoutMs: number;
  /** After the signal aborts, how long to wait for a handler that ignores it before giving up on it. */
  abandonAfterMs: number;
  fencingToken: number;
  replicaId: string;
  /** Whether the record's row is certainly still locked, by the clock, now (the claim session's rowsSafe). */
  rowsSafe: () => boolean;
  /** The term's logger: the handler's ctx.log is a child of it bound to recordId, attempt and kind. */
  log: Logger;
}

/**
 * One handler run: under a timeout, abortable from outside (a lost row lock, shutdown), classified by how it
 * ended. `run()` never rejects.
 *
 *   running ──returned──▶ succeeded
 *      │    ──threw PermanentFailure──▶ dead;  threw RetryLater(ms)──▶ failed (retry no sooner than ms)
 *      │    ──threw anything else──▶ failed
 *      └──abort(reason) or timeout──▶ aborting ──handler ends──▶ failed, for the abort's reason
 *                                        │                    (cancelled, for an operator's cancel)
 *                                        └──abandonAfterMs──▶ failed or cancelled (the handler is given up on)
 */
export class Execution {
  /**
   * Made when the handler first reads ctx.signal (most never do: an AbortSignal is costly to create); an
   * abort before that is kept in `abortReason` and applied when it is made.
   */
  private controller: AbortController | undefined;
  private abortReason: ExecutionAborted | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settle: ((outcome: ExecutionOutcome) => void) | undefined;
  private childLog: Logger | undefined;

  constructor(
    private readonly handler: Handler,
    readonly record: FailedRecord,
    private readonly settings: ExecutionSettings,
  ) {}

  /** The handler's ctx.log: a child of the term's logger bound to the record, made when first read. */
  get log(): Logger {
    const { id: recordId, attempt, kind } = this.record;
    this.childLog ??= this.settings.log.child({ recordId, attempt, kind });
    return this.childLog;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  run(): Promise<ExecutionOutcome> {
    return new Promise<ExecutionOutcome>((resolve) => {
      this.settle = (outcome) => {
        this.settle = undefined;
        clearTimeout(this.timer);
        resolve(outcome);
      };
      const { timeoutMs } = this.settings;
      this.timer = setTimeout(
        () => this.abort(new ExecutionAborted('timeout', `execution timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      let result: Promise<void> | void;
      try {
        result = this.handler(this.record, this.context());
      } catch (thrown) {
        this.failed(thrown);
        return;
      }
      // Promise.resolve() adopts any thenable; a `then` that throws becomes a rejection, never an escape.
      Promise.resolve(result).then(
        () => this.settle?.({ kind: 'succeeded' }),
        (thrown: unknown) => this.failed(thrown),
      );
    });
  }

  /** Aborts the handler's signal (once); if it has not ended abandonAfterMs later, it is given up on. */
  abort(reason: ExecutionAborted): void {
    if (this.abortReason || !this.settle) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.settings.log.error(
        { recordId: this.record.id, attempt: this.record.attempt, abandonedAfterMs: this.settings.abandonAfterMs },
        'handler ignored its abort signal; giving up on it',
      );
      this.settle?.(
        reason.reason === 'cancelled' ? { kind: 'cancelled', error: reason } : { kind: 'failed', error: reason },
      );
    }, this.settings.abandonAfterMs);
  }

  private failed(thrown: unknown): void {
    const error = coerceError(thrown);
    if (error instanceof PermanentFailure) {
      this.settle?.({ kind: 'dead', error });
      return;
    }
    const reason = this.abortReason;
    if (reason?.reason === 'cancelled') {
      this.settle?.({ kind: 'cancelled', error: withCause(reason, error) });
      return;
    }
    // A handler that stopped because its signal aborted failed for the abort's reason (timeout, shutdown…).
    const reported = reason ? withCause(reason, error) : error;
    this.settle?.(
      error instanceof RetryLater
        ? { kind: 'failed', error: reported, retryAfterMs: error.retryAfterMs }
        : { kind: 'failed', error: reported },
    );
  }

  /** Whether the handler may still have effects: not aborted, not ended, and its row certainly still locked. */
  isSafe(): boolean {
    return this.abortReason === undefined && this.settle !== undefined && this.settings.rowsSafe();
  }

  private context(): HandlerContext {
    return new Context(this, this.settings);
  }
}

/**
 * A handler's ctx. An instance of a class rather than an object literal: V8 builds a literal with getters on a
 * slow path, with closures of its own per execution. `signal` and `log` are nonetheless the instance's own,
 * enumerable getters (one descriptor each, shared by every instance), so that a wrapper that passes on a copy
 * (`{ ...ctx, log: child }`) still hands over the signal; `isSafe` is an own function, so that it can be taken
 * off the object (`const { isSafe } = ctx`).
 */
class Context implements HandlerContext {
  declare readonly signal: AbortSignal;
  declare readonly log: Logger;
  readonly attempt: number;
  readonly fencingToken: number;
  readonly replicaId: string;
  readonly isSafe: () => boolean;
  readonly #execution: Execution;

  // Defined one at a time: one defineProperties with a descriptor map took twice as long (BENCHMARKS, change 43).
  static readonly #signal: PropertyDescriptor = {
    enumerable: true,
    get(this: Context) {
      return this.#execution.signal;
    },
  };
  static readonly #log: PropertyDescriptor = {
    enumerable: true,
    get(this: Context) {
      return this.#execution.log;
    },
  };

  constructor(execution: Execution, settings: ExecutionSettings) {
    this.#execution = execution;
    this.attempt = execution.record.attempt;
    this.fencingToken = settings.fencingToken;
    this.replicaId = settings.replicaId;
    this.isSafe = () => execution.isSafe();
    Object.defineProperty(this, 'signal', Context.#signal);
    Object.defineProperty(this, 'log', Context.#log);
  }
}

function withCause(reason: ExecutionAborted, error: Error): Error {
  if (error === reason || error.name === 'AbortError' || error.name === 'TimeoutError') return reason;
  return new ExecutionAborted(reason.reason, `${reason.message}: ${error.message}`, { cause: error });
}
