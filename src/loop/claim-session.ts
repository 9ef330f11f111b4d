import type pg from 'pg';
import { withTimeout } from '../async.js';
import type { Clock } from '../clock.js';
import { type ClaimArgs, type ClaimedRow, claimRecords } from '../db/claim-records.js';
import { type Completion, completeAndCommit } from '../db/complete-records.js';
import { ExecutionAborted } from '../errors.js';
import type { Timings } from '../timings.js';
import type { DatabaseContact } from './database-contact.js';

export interface ClaimSessionDeps {
  pool: pg.Pool;
  timings: Timings;
  clock: Clock;
  /** Told how every statement of the session went. */
  contact: DatabaseContact;
}

/**
 * One claim transaction's connection, from its claim to its COMMIT: the rows it locked, and how long they are
 * certainly still locked.
 *
 *   claim ──rows──▶ holding ──complete(): UPDATE; COMMIT──▶ released (back to the pool)
 *                     │ heartbeat (SELECT 1) every claimHeartbeatMs; each answer moves rowsSafeUntil forward
 *                     ├──connection error, no answer within databaseTimeoutMs, or rowsSafeUntil passed──▶ uncertain
 *                     └──abandon()──▶ rolled back, or the connection destroyed
 *
 * Postgres ends a session idle inside its transaction claimSessionIdleMs after its last statement ended, and
 * with it the row locks and the barrier. A statement ends on the server after we sent it, so the rows are
 * certainly still locked until (send time of the last answered statement) + claimSessionIdleMs; the session
 * reports itself uncertain rowLockMarginMs before that, so that handlers are aborted before the server may
 * free their rows. `rowsSafe()` reads the clock synchronously: a process that was paused sees it at once.
 */
export class ClaimSession {
  private lastAnsweredSentAt: number;
  private heartbeat: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private uncertainty: ExecutionAborted | undefined;
  private onUncertain: ((reason: ExecutionAborted) => void) | undefined;
  private ended = false;

  private constructor(
    private readonly client: pg.PoolClient,
    private readonly deps: ClaimSessionDeps,
    claimSentAt: number,
  ) {
    this.lastAnsweredSentAt = claimSentAt;
  }

  /**
   * Claims up to `args.limit` due records on a pooled connection. With records, returns the session that
   * holds them (call watch(), then complete() or abandon()); without, commits and returns none. Throws
   * FencedError when Postgres holds another term, or the claim's error; the connection is cleaned up either way.
   */
  static claim(
    deps: ClaimSessionDeps,
    args: ClaimArgs,
  ): Promise<{ session: ClaimSession; rows: ClaimedRow[] } | { session: undefined; rows: [] }> {
    return ClaimSession.lock(deps, (client) => claimRecords(client, args));
  }

  /**
   * The same for any statement that opens a transaction and locks rows in it (`lock`: a claim, or a consumer's
   * lock of a group of dispatched records in dispatch mode).
   */
  static async lock<Row>(
    deps: ClaimSessionDeps,
    lock: (client: pg.PoolClient) => Promise<Row[]>,
  ): Promise<{ session: ClaimSession; rows: Row[] } | { session: undefined; rows: [] }> {
    const { pool, timings, clock, contact } = deps;
    const connectingAt = clock();
    const client = await withTimeout(pool.connect(), timings.databaseTimeoutMs, 'connecting to claim').catch(
      (err: unknown) => {
        contact.failed(connectingAt, err);
        throw err;
      },
    );
    const sentAt = clock();
    let rows: Row[];
    try {
      rows = await contact.report(sentAt, withTimeout(lock(client), timings.databaseTimeoutMs, 'claim'));
    } catch (err) {
      await endTransaction(client, 'ROLLBACK', timings.databaseTimeoutMs);
      throw err;
    }
    if (rows.length === 0) {
      if (!(await endTransaction(client, 'COMMIT', timings.databaseTimeoutMs)))
        throw new Error('could not end an empty claim transaction');
      return { session: undefined, rows: [] };
    }
    return { session: new ClaimSession(client, deps, sentAt), rows };
  }

  /** True while the rows are certainly still locked: no sign of trouble, and rowsSafeUntil not passed. */
  rowsSafe(): boolean {
    return this.uncertainty === undefined && !this.ended && this.deps.clock() < this.rowsSafeUntil();
  }

  /** Why the rows are no longer certainly locked, once they are not. */
  get uncertain(): ExecutionAborted | undefined {
    return this.uncertainty;
  }

  /** Starts the heartbeat and the deadline; `onUncertain` is called once if the rows' locks become uncertain. */
  watch(onUncertain: (reason: ExecutionAborted) => void): void {
    this.onUncertain = onUncertain;
    this.client.on('error', this.onConnectionError);
    this.client.on('end', this.onConnectionEnd);
    this.heartbeat = setInterval(() => {
      this.statement('SELECT 1', 'heartbeat').catch(() => undefined); // statement() has recorded the uncertainty
    }, this.deps.timings.claimHeartbeatMs);
    this.armDeadline();
  }

  /** Writes the completions and commits; releases the connection. Throws if either fails (then call abandon()). */
  async complete(completions: readonly Completion[]): Promise<number> {
    this.stopWatching();
    const changed = await this.deps.contact.report(
      this.deps.clock(),
      withTimeout(completeAndCommit(this.client, completions), this.deps.timings.databaseTimeoutMs, 'completion'),
    );
    this.release(false);
    return changed;
  }

  /** Ends the transaction without its changes: ROLLBACK on a healthy connection, else the connection is destroyed. */
  async abandon(): Promise<void> {
    if (this.ended) return;
    this.stopWatching();
    const healthy =
      this.uncertainty === undefined &&
      (await endTransaction(this.client, 'ROLLBACK', this.deps.timings.databaseTimeoutMs, false));
    this.release(!healthy);
  }

  private rowsSafeUntil(): number {
    const { claimSessionIdleMs, rowLockMarginMs } = this.deps.timings;
    return this.lastAnsweredSentAt + claimSessionIdleMs - rowLockMarginMs;
  }

  private async statement(text: string, what: string): Promise<void> {
    const sentAt = this.deps.clock();
    try {
      await this.deps.contact.report(
        sentAt,
        withTimeout(this.client.query(text), this.deps.timings.databaseTimeoutMs, what),
      );
    } catch (err) {
      this.becomeUncertain(
        new ExecutionAborted('rows-uncertain', `the claim session's ${what} failed: ${(err as Error).message}`, {
          cause: err,
        }),
      );
      throw err;
    }
    if (sentAt > this.lastAnsweredSentAt) this.lastAnsweredSentAt = sentAt;
    this.armDeadline();
  }

  private armDeadline(): void {
    clearTimeout(this.deadline);
    if (this.ended || this.uncertainty) return;
    this.deadline = setTimeout(
      () => {
        if (this.rowsSafe()) return this.armDeadline();
        this.becomeUncertain(
          new ExecutionAborted(
            'rows-uncertain',
            'Postgres has not answered the claim session in time to be sure its row locks are still held',
          ),
        );
      },
      Math.max(0, this.rowsSafeUntil() - this.deps.clock()) + 1,
    );
  }

  private readonly onConnectionError = (err: Error) =>
    this.becomeUncertain(
      new ExecutionAborted('rows-uncertain', `database connection lost: ${err.message}`, { cause: err }),
    );
  private readonly onConnectionEnd = () =>
    this.becomeUncertain(new ExecutionAborted('rows-uncertain', 'database connection closed'));

  private becomeUncertain(reason: ExecutionAborted): void {
    if (this.uncertainty || this.ended) return;
    this.uncertainty = reason;
    this.stopWatching();
    this.onUncertain?.(reason);
  }

  private stopWatching(): void {
    clearInterval(this.heartbeat);
    clearTimeout(this.deadline);
    this.heartbeat = undefined;
    this.deadline = undefined;
  }

  private release(destroy: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.stopWatching();
    this.client.off('error', this.onConnectionError);
    this.client.off('end', this.onConnectionEnd);
    this.client.release(destroy);
  }
}

/**
 * Ends a claim transaction with COMMIT or ROLLBACK, bounded; returns whether it did. A connection that did not
 * answer is destroyed, never returned to the pool (its transaction may still hold rows). With `release`
 * false the caller releases it.
 */
async function endTransaction(
  client: pg.PoolClient,
  command: 'COMMIT' | 'ROLLBACK',
  timeoutMs: number,
  release = true,
): Promise<boolean> {
  const ok = await withTimeout(client.query(command), timeoutMs, command.toLowerCase()).then(
    () => true,
    () => false,
  );
  if (release) client.release(!ok);
  return ok;
}
