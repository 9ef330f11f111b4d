import type pg from 'pg';
import { sleep } from '../async.js';
import type { Clock } from '../clock.js';
import type { ClaimConfig, ExecutionConfig, RetentionConfig } from '../config.js';
import { type ClaimArgs, tookWholeShare } from '../db/claim-records.js';
import { listenOrPoll } from '../db/listen-due.js';
import type { TermLockKey } from '../db/term-lock.js';
import type { Term } from '../election/term.js';
import { ExecutionAborted, FencedError } from '../errors.js';
import type { KindRegistry } from '../executor/kinds.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Timings } from '../timings.js';
import { Waker } from '../waker.js';
import { AttemptLedger } from './attempt-ledger.js';
import { type PlanRules, planAttempt, withoutAttemptAhead } from './attempts.js';
import { Batch, type BatchDeps, type Entry } from './batch.js';
import { ClaimPace } from './claim-pace.js';
import { ClaimSession, type ClaimSessionDeps } from './claim-session.js';
import { DatabaseContact } from './database-contact.js';
import { KindLimits } from './kind-limits.js';
import { Retention } from './retention.js';
import { StallWatch } from './stall-watch.js';
import { StartQueue } from './start-queue.js';
import { type LoopStop, TermEnding } from './term-ending.js';

export interface RetryLoopDeps {
  pool: pg.Pool;
  databaseUrl: string;
  electionName: string;
  replicaId: string;
  lockKey: TermLockKey;
  claim: ClaimConfig;
  execution: ExecutionConfig;
  timings: Timings;
  kinds: KindRegistry;
  metrics: Metrics;
  clock: Clock;
  /** Finished records the leader deletes (unset: none). */
  retention?: RetentionConfig;
}

/**
 * Claim -> ledger -> execute -> complete, for one term.
 *
 * Claims a batch (one transaction, its rows locked until it completes) whenever fewer than MAX_OPEN_BATCHES are
 * open and fewer than ClaimPace.ahead records wait to start; otherwise, and when the queue looks empty, sleeps
 * until NOTIFY, the poll interval, a batch ending, a record starting (while it waits for room), or a kind whose
 * whole cap it claimed having room again. Claimed records wait in one StartQueue, in claim order, and start once
 * their attempt is in the ledger, and only if, at that instant, the term is safe and their batch's rows are
 * certainly still locked. When the term ends or the loop drains, nothing new starts; started executions finish
 * under their held rows, and the loop returns once every batch has ended.
 */
export class RetryLoop {
  private readonly draining = new AbortController();
  private readonly waker = new Waker();
  private readonly batches = new Set<Batch>();
  /** Record identities in open batches: one of them claimed again (its batch's rows were freed) is left alone. */
  private readonly held = new Set<string>();
  /**
   * Records whose batch ended while a claim was in flight. Such a claim may have read the ledger before the
   * batch wrote its last outcomes (a batch whose rows were freed early writes them before it ends), so it must
   * not plan them: they are left for the next claim. Cleared when a claim starts (claims run one at a time).
   */
  private readonly releasedDuringClaim = new Set<string>();
  private readonly queue: StartQueue;
  private readonly limits: KindLimits;
  private readonly ledger: AttemptLedger;
  private readonly batchDeps: BatchDeps;
  private readonly rules: PlanRules;
  private readonly stallWatch: StallWatch;
  private readonly pace: ClaimPace;
  private readonly contact: DatabaseContact;
  private readonly sessionDeps: ClaimSessionDeps;
  private running: Promise<LoopStop> | undefined;
  private readonly ending: TermEnding;
  /** The loop waits for room: fewer than MAX_OPEN_BATCHES open, and fewer than ClaimPace.ahead queued. */
  private waitingForRoom = false;
  /** A claim left a record because its earlier batch was still open: that batch's end must wake the loop. */
  private leftHeld = false;

  constructor(
    private readonly deps: RetryLoopDeps,
    private readonly term: Term,
    private readonly log: Logger,
  ) {
    const { execution, claim, timings, pool, replicaId, clock } = deps;
    this.ending = new TermEnding(term, log, deps.metrics);
    this.contact = new DatabaseContact(clock, timings.databaseGraceMs, this.ending.databaseLost);
    this.sessionDeps = { pool, timings, clock, contact: this.contact };
    this.ledger = new AttemptLedger(pool, term.epoch, replicaId, timings.databaseTimeoutMs, log, this.contact, clock);
    this.limits = new KindLimits(deps.kinds, clock);
    this.pace = new ClaimPace(execution.concurrency, claim.batchSize, clock);
    this.queue = new StartQueue(this.ledger, this.limits, log, this.pace, (capFreed) => this.roomMade(capFreed));
    this.batchDeps = {
      term,
      ledger: this.ledger,
      timings,
      replicaId: deps.replicaId,
      metrics: deps.metrics,
      log,
      successLog: log.child({}, { redact: [] }),
      isDraining: () => this.draining.signal.aborted,
      onExecutionEnded: (kind) => this.queue.finished(kind),
      onEnded: (batch) => this.batchEnded(batch),
    };
    const { defaultMaxAttempts } = execution;
    this.rules = { kinds: deps.kinds, defaultMaxAttempts, payloadMaxBytes: claim.payloadMaxBytes };
    this.stallWatch = new StallWatch(deps.clock, timings.stallLimitMs, (stalledMs) => this.stalled(stalledMs));
  }

  /** Claims until the term ends or drain() is called; then waits for every batch to end. */
  run(): Promise<LoopStop> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Stops claiming and starting; in-flight executions finish, or their signals abort after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    this.draining.abort();
    this.queue.skipAll('draining');
    this.waker.wake();
    const timer = setTimeout(() => {
      this.log.warn({ shutdownTimeoutMs: timeoutMs }, 'shutdown timeout passed; aborting in-flight executions');
      for (const batch of this.batches)
        batch.abort(new ExecutionAborted('shutdown', `shutdown: in-flight execution aborted after ${timeoutMs} ms`));
    }, timeoutMs);
    await Promise.resolve(this.running).finally(() => clearTimeout(timer));
  }

  /**
   * One claim, its records queued and started as slots allow; true if it took a kind's whole share (more due).
   * An idle leader records its likely next attempt beside the claim (AttemptLedger.besideClaim), used if planned.
   */
  async runOnce(): Promise<boolean> {
    this.releasedDuringClaim.clear();
    const args = this.claimArgs();
    const idle = this.batches.size === 0 && this.queue.length === 0;
    const claim = await this.ledger.besideClaim(idle, args, () => ClaimSession.claim(this.sessionDeps, args));
    let { ahead } = claim;
    this.deps.metrics.claimed(claim.rows.length);
    this.pace.claimed(claim.rows);
    this.limits.claimed(claim.rows, args.caps);
    if (!claim.session) return false;
    const batch = new Batch(this.batchDeps, claim.session);
    this.batches.add(batch);
    const entries: Entry[] = [];
    const recorded: Entry[] = [];
    for (const claimed of claim.rows) {
      const row = withoutAttemptAhead(claimed, ahead);
      if (this.held.has(row.uid) || this.releasedDuringClaim.has(row.uid)) {
        // Its earlier batch had not ended here when this claim read the ledger (it lost its rows, or its COMMIT
        // was not yet answered): claim it later. Counted as skipped, as every claimed record that does not start.
        if (this.held.has(row.uid)) this.leftHeld = true;
        else this.waker.wake();
        this.log.warn(
          { recordId: row.id },
          'claimed a record whose earlier batch had not ended; leaving it for a later claim',
        );
        this.deps.metrics.recordsSkipped('earlier-batch-open', 1);
        continue;
      }
      this.held.add(row.uid);
      batch.hold(row);
      const plan = planAttempt(row, this.rules);
      if (plan.action === 'settle') batch.settle(plan.completion);
      else if (ahead?.recordUid === row.uid && plan.attempt === ahead.attempt && this.limits.mayRecord(plan.kind)) {
        recorded.push({ ...batch.entry(row, plan), ledgerId: ahead.ledgerId });
        this.deps.metrics.recordedAhead();
        ahead = undefined;
      } else entries.push(batch.entry(row, plan));
    }
    await this.ledger.discardAhead(ahead);
    batch.sealed();
    this.queue.push(entries, recorded);
    return tookWholeShare(claim.rows, args.caps);
  }

  /** Executions running now, by kind. */
  executingByKind(): ReadonlyMap<string, number> {
    return this.limits.running();
  }

  /** Resolves once every open batch has ended. */
  async settled(): Promise<void> {
    while (this.batches.size > 0) await Promise.all([...this.batches].map((b) => b.ended));
  }

  private async loop(): Promise<LoopStop> {
    const stopClaiming = AbortSignal.any([this.term.signal, this.draining.signal]);
    const onTermEnd = () => this.queue.skipAll('term-ended');
    this.term.signal.addEventListener('abort', onTermEnd, { once: true });
    this.stallWatch.start();
    const listening = listenOrPoll(
      this.deps.databaseUrl,
      `retry-worker listen ${this.deps.replicaId}`,
      () => this.waker.wake(),
      this.log,
      (recordId) => this.cancel(recordId),
    );
    // Retention runs while the term claims: it stops when the term ends or the loop drains.
    const retention = Retention.duringTerm(this.deps.databaseUrl, this.deps.retention, this.log, stopClaiming);
    const { timings, claim } = this.deps;
    let retryMs = timings.retryMinMs;
    try {
      while (!stopClaiming.aborted && this.term.isSafe()) {
        if (!this.hasRoom()) {
          this.waitingForRoom = true;
          await this.waker.wait(claim.pollIntervalMs, stopClaiming);
          this.waitingForRoom = false;
          continue;
        }
        let full: boolean;
        try {
          full = await this.runOnce();
          retryMs = timings.retryMinMs;
        } catch (err) {
          if (err instanceof FencedError) {
            this.ending.fenced(err);
            break;
          }
          // The contact has counted the failure; once Postgres has been silent too long it has ended the term.
          if (stopClaiming.aborted) break;
          this.log.warn({ err, retryInMs: retryMs }, 'claim failed');
          await sleep(retryMs, stopClaiming);
          retryMs = Math.min(retryMs * 2, claim.pollIntervalMs);
          continue;
        }
        if (!full) await this.waker.wait(Math.min(claim.pollIntervalMs, this.limits.roomInMs()), stopClaiming);
      }
      this.queue.skipAll(this.draining.signal.aborted ? 'draining' : 'term-ended');
      await this.settled();
      await this.ledger.flush();
      return this.ending.stopped(this.draining.signal.aborted);
    } finally {
      this.contact.stop();
      await retention.stop();
      this.term.signal.removeEventListener('abort', onTermEnd);
      this.stallWatch.stop();
      await (await listening)?.close(timings.databaseTimeoutMs);
    }
  }

  /** An operator cancelled a record (NOTIFY): the batch that holds it aborts its handler, or never starts it. */
  cancel(recordId: number): void {
    let held = false;
    for (const batch of this.batches) held = batch.cancel(recordId) || held;
    this.log.info(
      { recordId, held },
      held ? 'cancel requested: aborting the record' : 'cancel requested for a record this leader does not hold',
    );
  }

  private batchEnded(batch: Batch): void {
    this.batches.delete(batch);
    for (const uid of batch.uids()) {
      this.held.delete(uid);
      this.releasedDuringClaim.add(uid);
    }
    // A batch that committed its records, none left due, leaves nothing new to claim: a wake would cost an idle
    // leader an empty claim (three round trips) after every batch, in the way of the next record's claim.
    if (this.waitingForRoom || this.leftHeld || !batch.committed || batch.leftDue) {
      this.leftHeld = false;
      this.waker.wake();
    }
  }

  private hasRoom(): boolean {
    return this.batches.size < this.deps.claim.maxOpenBatches && this.queue.length < this.pace.ahead;
  }

  /**
   * A record started or an execution ended: a loop waiting for room claims now, not once a batch ends (the slots
   * would idle meanwhile); so does one waiting for its poll, once a kind whose whole cap it claimed has room.
   */
  private roomMade(capFreed: boolean): void {
    if (capFreed || (this.waitingForRoom && this.hasRoom())) this.waker.wake();
  }

  private stalled(stalledMs: number): void {
    this.log.error(
      { stalledMs, limitMs: this.deps.timings.stallLimitMs },
      'the event loop stalled long enough that row locks may have been lost; ending the term (handlers must not block)',
    );
    this.deps.metrics.stalled();
    this.ending.end('stalled');
    for (const batch of this.batches)
      batch.abort(new ExecutionAborted('stalled', `the event loop stalled for ${stalledMs} ms`));
  }

  private claimArgs(): ClaimArgs {
    const { electionName: name, lockKey, claim } = this.deps;
    const { epoch, token } = this.term;
    const { payloadMaxBytes } = claim;
    return { name, epoch, token, limit: this.pace.limit(), payloadMaxBytes, lockKey, caps: this.limits.caps() };
  }
}
