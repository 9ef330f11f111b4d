import type pg from 'pg';
import { withTimeout } from '../async.js';
import type { Clock } from '../clock.js';
import type { ClaimArgs } from '../db/claim-records.js';
import { discardAttempts, type FinishedAttempt, finishAttempts } from '../db/finish-attempts.js';
import { type AttemptAhead, startAttemptAhead } from '../db/start-ahead.js';
import { type AttemptStart, startAttempts } from '../db/start-attempts.js';
import type { Logger } from '../observability/logger.js';
import type { DatabaseContact } from './database-contact.js';

/**
 * The attempt ledger of one term, on autocommit pool connections (never a claim transaction, whose
 * rollback would erase it):
 * - start(): one row per attempt about to start, written and committed before any of them starts;
 * - startAhead(): an idle leader's next attempt, written while it claims (start-ahead.ts);
 * - finish(): outcomes, gathered while a write is in flight and written together (one statement each);
 * - discardUnstarted(): rows of attempts that never started (they must not count).
 * Every write is bounded by `timeoutMs`.
 */
export class AttemptLedger {
  private queued: FinishedAttempt[] = [];
  private writing: Promise<void> | undefined;
  /** Outcomes queued by finish(), and those whose write has ended (written, or failed and logged), in order. */
  private outcomesQueued = 0;
  private outcomesWritten = 0;
  private flushes: { upTo: number; resolve: () => void }[] = [];
  private startsQueued: { start: AttemptStart; resolve: (id: number) => void; reject: (err: unknown) => void }[] = [];
  private startsWriting: Promise<void> | undefined;
  /** A row was written ahead of a claim that locked nothing: no more are, until a claim locks records. */
  private aheadMissed = false;

  constructor(
    private readonly pool: pg.Pool,
    readonly epoch: number,
    private readonly replicaId: string,
    private readonly timeoutMs: number,
    private readonly log: Logger,
    private readonly contact: DatabaseContact,
    private readonly clock: Clock,
  ) {}

  start(starts: readonly AttemptStart[]): Promise<number[]> {
    return this.contact.report(
      this.clock(),
      withTimeout(startAttempts(this.pool, starts, this.epoch, this.replicaId), this.timeoutMs, 'recording attempts'),
    );
  }

  /**
   * The ledger row of the next attempt a claim with `args` would make, written beside that claim; undefined
   * if there was none or the write failed (logged: the claim's records are then recorded as usual).
   */
  startAhead(args: ClaimArgs): Promise<AttemptAhead | undefined> {
    return this.contact
      .report(
        this.clock(),
        withTimeout(
          startAttemptAhead(this.pool, args, this.replicaId),
          this.timeoutMs,
          'recording an attempt ahead of its claim',
        ),
      )
      .catch((err: unknown) => {
        this.log.warn({ err }, 'could not record an attempt ahead of its claim; it is recorded after the claim');
        return undefined;
      });
  }

  /**
   * `claim()`, and beside it, if `idle`, startAhead(args): the claim's result with the row written ahead, if any.
   * A row written ahead of a claim that failed or locked nothing is deleted before this returns. After a claim
   * that locked nothing while a row was written ahead (its record held by another transaction, say), none is
   * written until a claim locks records: an idle leader's polls do not write and delete a ledger row each.
   */
  async besideClaim<Claimed extends { session: unknown }>(
    idle: boolean,
    args: ClaimArgs,
    claim: () => Promise<Claimed>,
  ): Promise<Claimed & { ahead: AttemptAhead | undefined }> {
    const writing = idle && !this.aheadMissed ? this.startAhead(args) : Promise.resolve(undefined);
    let claimed: Claimed;
    try {
      claimed = await claim();
    } catch (err) {
      await this.discardAhead(await writing);
      throw err;
    }
    const ahead = await writing;
    if (claimed.session) {
      this.aheadMissed = false;
      return { ...claimed, ahead };
    }
    if (ahead) this.aheadMissed = true;
    await this.discardAhead(ahead);
    return { ...claimed, ahead: undefined };
  }

  /** Deletes a row written ahead of a claim that did not use it (a failed delete is logged: the attempt counts). */
  async discardAhead(ahead: AttemptAhead | undefined): Promise<void> {
    if (ahead) await this.discardUnstarted([ahead.ledgerId]);
  }

  /**
   * One attempt's start (dispatch mode: a record of a group of messages), written in one statement with the others
   * asked for in the same turn of the event loop or while such a write runs. Resolves with its ledger id once
   * committed.
   */
  startOne(start: AttemptStart): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.startsQueued.push({ start, resolve, reject });
      this.startsWriting ??= new Promise<void>((r) => setImmediate(r)).then(() => this.writeStarts());
    });
  }

  /** Queues an outcome. Outcomes that arrive in one turn of the event loop, or while a write runs, go together. */
  finish(attempt: FinishedAttempt): void {
    this.queued.push(attempt);
    this.outcomesQueued++;
    this.writing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.writeQueued());
  }

  /**
   * Resolves once every outcome queued so far is written (or its write failed and was logged). Outcomes queued
   * later do not hold it up: under a steady stream of them the writes never pause, and a batch that rolls back
   * waits here before it ends.
   */
  flush(): Promise<void> {
    if (this.outcomesWritten >= this.outcomesQueued) return Promise.resolve();
    return new Promise((resolve) => this.flushes.push({ upTo: this.outcomesQueued, resolve }));
  }

  /** Deletes the rows of attempts that never started (a failed delete is logged: they count as attempts). */
  async discardUnstarted(ledgerIds: readonly number[]): Promise<void> {
    if (ledgerIds.length === 0) return;
    await this.discard(ledgerIds).catch((err: unknown) =>
      this.log.warn(
        { err, attempts: ledgerIds.length },
        'could not delete the ledger rows of attempts that never started; they count',
      ),
    );
  }

  private discard(ledgerIds: readonly number[]): Promise<void> {
    return this.contact.report(
      this.clock(),
      withTimeout(discardAttempts(this.pool, ledgerIds), this.timeoutMs, 'discarding attempts that never started'),
    );
  }

  private async writeStarts(): Promise<void> {
    try {
      while (this.startsQueued.length > 0) {
        const group = this.startsQueued;
        this.startsQueued = [];
        await this.start(group.map((g) => g.start)).then(
          (ids) => {
            for (const [i, g] of group.entries()) g.resolve(ids[i]!);
          },
          (err: unknown) => {
            for (const g of group) g.reject(err);
          },
        );
      }
    } finally {
      this.startsWriting = undefined;
    }
  }

  private async writeQueued(): Promise<void> {
    try {
      while (this.queued.length > 0) {
        const batch = this.queued;
        this.queued = [];
        await this.contact
          .report(
            this.clock(),
            withTimeout(finishAttempts(this.pool, batch), this.timeoutMs, 'recording attempt outcomes'),
          )
          .catch((err: unknown) =>
            this.log.warn(
              { err, attempts: batch.length },
              'could not record attempt outcomes in the ledger; the next claim counts them as unfinished',
            ),
          );
        this.outcomesWritten += batch.length;
        const flushes = this.flushes;
        this.flushes = [];
        for (const f of flushes)
          if (f.upTo <= this.outcomesWritten) f.resolve();
          else this.flushes.push(f);
      }
    } finally {
      this.writing = undefined;
    }
  }
}
