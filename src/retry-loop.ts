import type pg from 'pg';
import { AttemptRecorder } from './attempt-recorder.js';
import { claimAndStartAttempts, prepareClaimAndStart, type ClaimAndStartArgs } from './db/claim-and-start-attempts.js';
import { claimRecords, type ClaimedRecord } from './db/claim-records.js';
import { finishAttempts } from './db/finish-attempts.js';
import type { AttemptPlan } from './db/start-attempts.js';
import { listenForDue, type DueListener } from './db/listen-due.js';
import type { TermLockKey } from './db/term-lock.js';
import type { Term } from './election/term.js';
import { FencedError } from './errors.js';
import type { Backoff } from './executor/backoff.js';
import { Deadlines } from './executor/deadlines.js';
import type { Handlers } from './executor/handler.js';
import { describeKinds } from './executor/load-handlers.js';
import { ExecutionLines } from './observability/execution-lines.js';
import type { Logger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';
import { HeldRecords, runBatch, type BatchDeps } from './run-batch.js';
import { TimeoutError, sleep, withTimeout } from './sleep.js';
import { Slots, Waker } from './waker.js';

export interface RetryLoopDeps {
  databaseUrl: string;
  pool: pg.Pool;
  handlers: Handlers;
  electionName: string;
  replicaId: string;
  lockKey: TermLockKey;
  concurrency: number;
  batchSize: number;
  maxOpenBatches: number;
  defaultMaxAttempts: number;
  executionTimeoutMs: number;
  heartbeatMs: number;
  pollIntervalMs: number;
  backoff: Backoff;
  /** Every claim-path statement answers within this, or its connection is given up. */
  databaseTimeoutMs: number;
  /** A leader whose claims fail for this long gives its term up, so a replica that can reach Postgres leads. */
  databaseGraceMs: number;
  metrics: Metrics;
}

export type LoopStop = 'term-ended' | 'fenced' | 'drained';

/**
 * A new batch is claimed while fewer records than this many times CONCURRENCY, or than two whole batches
 * (whichever is more), wait for a slot. The claim and its ledger write take a few milliseconds: with only
 * CONCURRENCY records queued the slots ran dry meanwhile (gaps of 10-20 ms between batches in the log of
 * handlers awaiting 5 ms at concurrency 50), and with no-op handlers a batch of 500 runs in less time than
 * the next one takes to claim and record (traced: 3.5 ms against 8 + 14 ms on a slow machine). So the next
 * batch is claimed as soon as the current one is, up to MAX_OPEN_BATCHES: its claim and ledger write run
 * while the current batch records its attempts, executes and completes. (With a one-batch mark the next
 * claim waited for the current batch's first execution, and a batch of no-op handlers runs all its
 * executions before the loop gets its turn again.)
 */
const CLAIM_AHEAD_WAVES = 3;

/**
 * Claim -> execute -> complete, for one term. Claims a batch whenever a claim transaction is free and fewer
 * than max(CLAIM_AHEAD_WAVES × CONCURRENCY, 2 × BATCH_SIZE) records wait for a slot; sleeps until NOTIFY, the
 * poll interval, or free capacity.
 * Stops claiming when the term ends, the fence refuses it, or drain() is called, then waits for its batches.
 */
export class RetryLoop {
  private readonly draining = new AbortController();
  private readonly hardStop = new AbortController();
  private readonly waker = new Waker();
  private readonly batchDeps: BatchDeps;
  private readonly batches = new Set<Promise<void>>();
  private waiting = 0;
  private warmed = false;
  private readonly claimAhead: number;
  private running: Promise<LoopStop> | undefined;

  constructor(
    private readonly deps: RetryLoopDeps,
    private readonly term: Term,
    private readonly log: Logger,
  ) {
    this.claimAhead = Math.max(CLAIM_AHEAD_WAVES * deps.concurrency, 2 * deps.batchSize);
    this.batchDeps = {
      pool: deps.pool,
      slots: new Slots(deps.concurrency),
      handlers: deps.handlers,
      knownKinds: describeKinds(deps.handlers),
      recorder: new AttemptRecorder(deps.pool, log),
      backoff: deps.backoff,
      timeouts: new Deadlines(deps.executionTimeoutMs),
      heartbeatMs: deps.heartbeatMs,
      replicaId: deps.replicaId,
      stopStarting: AbortSignal.any([this.draining.signal, term.signal]),
      hardStop: this.hardStop.signal,
      databaseTimeoutMs: deps.databaseTimeoutMs,
      metrics: deps.metrics,
      lines: new ExecutionLines(log),
      held: new HeldRecords(),
    };
  }

  run(): Promise<LoopStop> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Stops claiming; in-flight executions finish, or their signals abort after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    this.draining.abort();
    this.waker.wake();
    const timer = setTimeout(() => {
      this.log.warn({ shutdownTimeoutMs: timeoutMs }, 'shutdown timeout passed; aborting in-flight executions');
      this.hardStop.abort(new Error(`shutdown: in-flight execution aborted after ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      await this.running;
    } finally {
      clearTimeout(timer);
    }
  }

  private async loop(): Promise<LoopStop> {
    const stopClaiming = AbortSignal.any([this.term.signal, this.draining.signal]);
    // LISTEN is set up beside the first claim, not before it (a connection and a round trip off the start of
    // every term); once it listens, one wake-up claims again, for records inserted before it did.
    const listening = this.listen().then((listener) => {
      this.waker.wake();
      return listener;
    });
    let stop: LoopStop = 'term-ended';
    let errorBackoffMs = 50;
    let failingSince: number | undefined;
    try {
      while (!stopClaiming.aborted) {
        if (!this.term.isSafe()) break;
        if (this.batches.size >= this.deps.maxOpenBatches || this.waiting >= this.claimAhead) {
          await this.waker.wait(this.deps.pollIntervalMs, stopClaiming);
          continue;
        }
        let claimed: number;
        try {
          claimed = await this.claimBatch();
          errorBackoffMs = 50;
          failingSince = undefined;
        } catch (err) {
          if (err instanceof FencedError) {
            this.log.warn({ storedEpoch: err.storedEpoch }, 'fenced: Postgres holds a newer epoch; stepping down');
            this.deps.metrics.fencedRejection('claim');
            this.term.end('fenced');
            stop = 'fenced';
            break;
          }
          failingSince ??= performance.now();
          const failingForMs = performance.now() - failingSince;
          if (failingForMs > this.deps.databaseGraceMs) {
            this.log.error({ err, failingForMs: Math.round(failingForMs) }, 'Postgres has not answered for a whole lease TTL; giving leadership up');
            this.term.end('database-unreachable');
            break;
          }
          this.log.warn({ err, retryInMs: errorBackoffMs }, 'claim failed');
          await sleep(errorBackoffMs, stopClaiming);
          errorBackoffMs = Math.min(errorBackoffMs * 2, this.deps.pollIntervalMs);
          continue;
        }
        if (claimed < this.deps.batchSize) await this.waker.wait(this.deps.pollIntervalMs, stopClaiming);
      }
      if (this.draining.signal.aborted && stop !== 'fenced') stop = 'drained';
      while (this.batches.size > 0) await Promise.all([...this.batches]);
      await withTimeout(this.batchDeps.recorder.flush(), this.deps.databaseTimeoutMs, 'recording outcomes').catch((err) => this.log.warn({ err }, 'could not record the last attempt outcomes; the next claim counts them as unfinished'));
      return stop;
    } finally {
      await (await listening)?.close();
    }
  }

  /**
   * Opens a claim transaction and, if it locked anything, runs it as a batch in the background. With no batch
   * open, the claim records the attempts too, in its own round trip: a record that arrives at an idle leader
   * waits for one round trip less. While batches run, the batch records them on another connection, so that
   * its ledger write overlaps the next claim (a drain is bound by the claims done one after another).
   */
  private async claimBatch(): Promise<number> {
    const client = await this.deps.pool.connect();
    const withAttempts = this.batches.size === 0;
    let claim: { records: ClaimedRecord[]; plans?: AttemptPlan[]; unlocked: AttemptPlan[] };
    try {
      const args = this.claimArgs();
      const claiming: Promise<typeof claim> = withAttempts ? claimAndStartAttempts(client, args) : claimRecords(client, args).then((records) => ({ records, unlocked: [] }));
      claim = await withTimeout(claiming, this.deps.databaseTimeoutMs, 'claim');
    } catch (err) {
      // A connection that did not answer in time is given up (destroyed), never returned to the pool; so is
      // one whose claimAndStartAttempts failed, which may still hold the barrier at session level.
      const rolledBack =
        !(err instanceof TimeoutError) &&
        (!withAttempts || err instanceof FencedError) &&
        (await withTimeout(client.query('ROLLBACK'), this.deps.databaseTimeoutMs, 'rollback').then(
          () => true,
          () => false,
        ));
      client.release(!rolledBack);
      throw err;
    }
    const { records, plans } = claim;
    if (claim.unlocked.length > 0) await this.markSkipped(claim.unlocked);
    if (records.length === 0) {
      await withTimeout(client.query('COMMIT'), this.deps.databaseTimeoutMs, 'commit').then(
        () => client.release(),
        (err: unknown) => {
          client.release(true);
          throw err;
        },
      );
      if (!this.warmed) this.warmUp();
      return claim.unlocked.length;
    }
    this.deps.metrics.claimed(records.length);
    this.waiting += records.length;
    const batch = runBatch(
      this.batchDeps,
      {
        client,
        records,
        plans,
        term: this.term,
        log: this.log,
        onRecordDispatched: () => {
          // After the term's first records have started, not beside them: opening connections costs the
          // server a fork each, and a new leader's first executions are the end of a failover.
          if (!this.warmed) this.warmUp();
          this.waiting--;
          // Once, when the queue falls below the claim-ahead mark (not at every record after it: each wake-up
          // is a turn of the loop); a batch that ends wakes it too.
          if (this.waiting === this.claimAhead - 1) this.waker.wake();
        },
      },
    ).finally(() => {
      this.batches.delete(batch);
      this.waker.wake();
    });
    this.batches.add(batch);
    return records.length + claim.unlocked.length;
  }

  private claimArgs(): ClaimAndStartArgs {
    const { electionName: name, defaultMaxAttempts, lockKey, replicaId, batchSize: limit } = this.deps;
    return { name, epoch: this.term.epoch, limit, defaultMaxAttempts, lockKey, replicaId };
  }

  /**
   * Marks the attempts of claimed records that another session changed or locked before the claim could lock
   * them again. Written before the loop claims again (not gathered by the recorder): a claim that found such
   * a record still due would otherwise count the unmarked attempt as one whose executor died.
   */
  private async markSkipped(unlocked: readonly AttemptPlan[]): Promise<void> {
    this.log.warn({ recordIds: unlocked.map((p) => p.recordId) }, 'claimed records changed or locked by another session before they could be locked; left alone');
    const skipped = unlocked.flatMap((p) => (p.action === 'run' ? [{ ledgerId: p.ledgerId, outcome: 'skipped' as const, error: null, finishedAt: Date.now() }] : []));
    await withTimeout(finishAttempts(this.deps.pool, skipped), this.deps.databaseTimeoutMs, 'marking attempts skipped').catch((err: unknown) =>
      this.log.warn({ err }, 'could not mark attempts skipped; the next claim counts them'),
    );
  }

  /**
   * Opens the connections the term works with (MAX_OPEN_BATCHES claim transactions and the ledger's
   * autocommit writes) once its first claim found nothing or its first record started, and prepares and plans
   * on each the claim an idle leader makes (claimAndStartAttempts), with nothing claimed: otherwise the
   * term's next records wait for new connections (a fork and a handshake on the server) and for each server
   * process to load the tables' catalog entries and plan the claim (traced before the claim and the ledger
   * write shared a round trip: the first probes' ledger insert took 5-6 ms, later ones 2-3). Done beside the
   * first claim instead, it slowed a graceful failover by ~20 ms on two cores.
   */
  private warmUp(): void {
    this.warmed = true;
    const args = this.claimArgs();
    // All at once, so that each is a connection of its own (the first claim's, idle again, may be one of them).
    for (let i = 0; i < this.deps.maxOpenBatches; i++) {
      void (async () => {
        const client = await this.deps.pool.connect();
        let healthy = false;
        try {
          await withTimeout(prepareClaimAndStart(client, args), this.deps.databaseTimeoutMs, 'preparing the claim');
          healthy = true;
        } finally {
          client.release(!healthy);
        }
      })().catch((err: unknown) => {
        // An unreachable database: the claim loop finds out on its own.
        this.log.debug({ err }, 'could not prepare a connection ahead of need');
      });
    }
  }

  private async listen(): Promise<DueListener | undefined> {
    try {
      return await listenForDue(
        this.deps.databaseUrl,
        `retry-worker listen ${this.deps.replicaId}`,
        () => this.waker.wake(),
        (err) => this.log.warn({ err }, 'LISTEN connection failed; polling only'),
      );
    } catch (err) {
      this.log.warn({ err }, 'could not LISTEN for new records; polling only');
      return undefined;
    }
  }
}
