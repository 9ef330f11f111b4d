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

/** Handlers by record `kind`. */
export type Handlers = Readonly<Record<string, Handler>>;
