import type { Logger } from '../observability/logger.js';

/** A failed record as a handler sees it. */
export interface FailedRecord {
  readonly id: number;
  /** The record's identity, never reused (even when ids are): a stable idempotency key across attempts and replicas. */
  readonly uid: string;
  readonly kind: string;
  readonly payload: unknown;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly maxAttempts: number;
}

export interface HandlerContext {
  /**
   * Aborts, with an ExecutionAborted whose `reason` says why, on the execution timeout (`timeout`), when the
   * record's row lock can no longer be vouched for (`rows-uncertain`: a lost database connection, or no answer
   * from Postgres in time), at the end of the shutdown timeout (`shutdown`), or after an event-loop stall
   * (`stalled`). A lost term does not abort a started execution: it finishes while its row stays locked, and
   * the next leader waits for it.
   */
  readonly signal: AbortSignal;
  /**
   * True while this execution may still have effects: its signal has not aborted and its record's row is
   * certainly still locked, judged by the clock at this instant (so a pause or a blocked event loop that no
   * timer has noticed yet already shows). Call it synchronously right before each effect a stale leader must
   * not cause, and stop if it is false: the built-in http handler does so as its request's bytes leave.
   * What happens after the check is the downstream's to refuse, by the fencing token.
   */
  isSafe(): boolean;
  readonly attempt: number;
  /** The leader's epoch: pass it downstream so that a stale leader's writes can be refused there too. */
  readonly fencingToken: number;
  readonly replicaId: string;
  /** A child logger bound to replicaId, epoch, recordId, attempt and kind. */
  readonly log: Logger;
}

/**
 * Returning means succeeded; throwing means retry with backoff; throwing PermanentFailure means dead at once;
 * throwing RetryLater asks for a retry no sooner than its delay. A handler must not block the event loop:
 * while it does, nothing renews the lease or keeps the row locks alive.
 */
export type Handler = (record: FailedRecord, ctx: HandlerContext) => Promise<void> | void;

/**
 * A kind's handler with its own policy; every field but `handle` is optional, and the global settings are the
 * defaults. A record's own max_attempts still wins over `maxAttempts`.
 */
export interface KindPolicy {
  handle: Handler;
  /** Attempts for records of this kind whose max_attempts is NULL (default DEFAULT_MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** Retry delays: baseMs doubling per attempt up to maxMs; `jitter` is the random fraction (0 to 1, default 0.5). */
  backoff?: { baseMs?: number; maxMs?: number; jitter?: number };
  /** One execution's limit (default EXECUTION_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Executions of this kind at once, across the cluster (the leader executes). */
  concurrency?: number;
  /** Starts of this kind per second, across the cluster. */
  ratePerSecond?: number;
  /**
   * Whether an error is worth retrying; false makes the record dead at once. Default: every error but
   * PermanentFailure.
   */
  retryOn?: (error: Error) => boolean;
}

/** A handler, or a handler with a policy. */
export type HandlerEntry = Handler | KindPolicy;

/** Handlers by record `kind`. */
export type Handlers = Readonly<Record<string, HandlerEntry>>;
