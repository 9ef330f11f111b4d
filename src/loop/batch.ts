import type { Span } from '@opentelemetry/api';
import type { ClaimedRow } from '../db/claim-records.js';
import type { Completion } from '../db/complete-records.js';
import type { Term } from '../election/term.js';
import { ExecutionAborted } from '../errors.js';
import { Execution } from '../executor/execute-record.js';
import type { Kind } from '../executor/kinds.js';
import { endAttemptSpan, startAttemptSpan, withSpan } from '../observability/attempt-span.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics, SkipReason } from '../observability/metrics.js';
import type { Timings } from '../timings.js';
import type { AttemptLedger } from './attempt-ledger.js';
import { classify, type ExecutionOutcome } from './attempts.js';
import type { ClaimSession } from './claim-session.js';
import { HeldSuccesses } from './held-successes.js';

/** A claimed record on its way to a slot: its attempt, and its ledger row once written. */
export interface Entry {
  batch: Batch;
  row: ClaimedRow;
  kind: Kind;
  attempt: number;
  /** The row's own max_attempts, else its kind's. */
  maxAttempts: number;
  ledgerId?: number;
}

export interface BatchDeps {
  /** The term (leader mode), or, in dispatch mode, the consumer's stand-in: its epoch is the fencing token. */
  term: Pick<Term, 'epoch' | 'isSafe'>;
  ledger: AttemptLedger;
  timings: Timings;
  replicaId: string;
  metrics: Metrics;
  /** The term's logger. */
  log: Logger;
  /**
   * The term's logger without the redaction pass, for the one line of each successful execution: its fields
   * are fixed and hold no secret (no error, no payload), and redaction was the larger part of its cost.
   */
  successLog: Logger;
  isDraining: () => boolean;
  /** A started execution of `kind` ended: its slot is free. */
  onExecutionEnded: (kind: string) => void;
  onEnded: (batch: Batch) => void;
}

/**
 * One claim transaction's records, from the claim to the COMMIT:
 *
 *   claimed ──every record settled (ran, settled without running, or skipped)──▶ ending ──▶ ended
 *                                           ending: discard ledger rows of attempts that never started;
 *                                           complete + COMMIT (held successes go with their records), or
 *                                           (rows uncertain, or the completion failed) write the held
 *                                           successes, flush the ledger's outcomes and roll back
 *
 * A record starts only if, at that instant, the term is safe, the loop is not draining, and the session's
 * rows are certainly still locked. If the rows become uncertain, running handlers are aborted at once.
 */
export class Batch {
  readonly ended: Promise<void>;
  private readonly rows: ClaimedRow[] = [];
  private readonly completions: Completion[] = [];
  private readonly discards: number[] = [];
  private readonly executions = new Set<Execution>();
  private readonly skipped = new Map<SkipReason, number>();
  /** Records an operator cancelled while this batch holds them (`retry-worker cancel`). */
  private readonly cancelled = new Set<number>();
  private readonly successes: HeldSuccesses;
  private outstanding = 0;
  private isSealed = false;
  private wasCommitted = false;
  private resolveEnded!: () => void;

  constructor(
    private readonly deps: BatchDeps,
    private readonly session: ClaimSession,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    this.successes = new HeldSuccesses(deps.ledger, deps.timings.successHoldMs);
  }

  hold(row: ClaimedRow): void {
    this.rows.push(row);
  }

  /** A record that ends without running (reconciled from the ledger, or dead without a try). */
  settle(completion: Completion): void {
    this.completions.push(completion);
  }

  entry(row: ClaimedRow, plan: { attempt: number; maxAttempts: number; kind: Kind }): Entry {
    this.outstanding++;
    return { batch: this, row, kind: plan.kind, attempt: plan.attempt, maxAttempts: plan.maxAttempts };
  }

  /** Every record of the claim is accounted for: watch the session; end now if nothing is to run. */
  sealed(): void {
    this.isSealed = true;
    this.session.watch((reason) => this.abort(reason));
    if (this.outstanding === 0) void this.finish();
  }

  /** Once ended: whether its completions were committed (else its rows rolled back, still pending). */
  get committed(): boolean {
    return this.wasCommitted;
  }

  /**
   * Whether it leaves records due now: some were not started (they stay pending), or are pending again with no
   * delay. Else, once committed, its end makes nothing new to claim.
   */
  get leftDue(): boolean {
    return this.skipped.size > 0 || this.completions.some((c) => c.status === 'pending' && c.delayMs <= 0);
  }

  uids(): string[] {
    return this.rows.map((r) => r.uid);
  }

  /** Aborts every running handler of the batch (rows uncertain, shutdown timeout, stall). */
  abort(reason: ExecutionAborted): void {
    for (const execution of this.executions) execution.abort(reason);
  }

  /**
   * An operator cancelled this record: its running handler's signal aborts (reason `cancelled`) and the attempt
   * ends cancelled; a record of the batch not started yet ends cancelled without running. Returns whether the
   * batch holds the record.
   */
  cancel(recordId: number): boolean {
    if (!this.rows.some((r) => r.id === recordId)) return false;
    this.cancelled.add(recordId);
    for (const execution of this.executions)
      if (execution.record.id === recordId)
        execution.abort(new ExecutionAborted('cancelled', 'cancelled by an operator (retry-worker cancel)'));
    return true;
  }

  /** Starts the entry's handler and returns true, unless it must not start now (then it is skipped). */
  start(entry: Entry): boolean {
    if (this.cancelled.has(entry.row.id)) {
      if (entry.ledgerId !== undefined) this.discards.push(entry.ledgerId);
      const { row } = entry;
      this.completions.push({
        id: row.id,
        status: 'cancelled',
        attempts: row.attempts,
        delayMs: 0,
        lastError: 'cancelled by an operator before its attempt started',
      });
      this.deps.log.info({ recordId: row.id }, 'record cancelled before its attempt started');
      this.settled();
      return false;
    }
    // Taken before the checks: a process paused between them and the start (SIGSTOP) still logs the instant
    // it decided, never a later one that would look like a start after the pause.
    const startedAt = Date.now();
    const reason = !this.deps.term.isSafe()
      ? 'term-ended'
      : !this.session.rowsSafe()
        ? 'rows-uncertain'
        : this.deps.isDraining()
          ? 'draining'
          : undefined;
    if (reason) {
      this.skip(entry, reason);
      return false;
    }
    const { row, attempt, kind, maxAttempts } = entry;
    const { timings, term, log } = this.deps;
    const execution = new Execution(
      kind.handle,
      { id: row.id, uid: row.uid, kind: row.kind, payload: row.payload, attempt, maxAttempts },
      {
        timeoutMs: kind.timeoutMs,
        abandonAfterMs: timings.abandonAfterMs,
        fencingToken: term.epoch,
        replicaId: this.deps.replicaId,
        rowsSafe: () => this.session.rowsSafe(),
        log,
      },
    );
    this.executions.add(execution);
    log.debug({ recordId: row.id, attempt, kind: row.kind }, 'execution started');
    const span = startAttemptSpan({
      recordId: row.id,
      recordUid: row.uid,
      kind: row.kind,
      attempt,
      payload: row.payload,
      epoch: term.epoch,
      replicaId: this.deps.replicaId,
    });
    const started = performance.now();
    void withSpan(span, () => execution.run()).then((outcome) =>
      this.finished(entry, execution, outcome, startedAt, performance.now() - started, span),
    );
    return true;
  }

  /** The entry will not run now: its row is left as it was, and its ledger row (if any) is deleted. */
  skip(entry: Entry, reason: SkipReason): void {
    if (entry.ledgerId !== undefined) this.discards.push(entry.ledgerId);
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1);
    this.deps.metrics.recordsSkipped(reason, 1);
    this.settled();
  }

  private finished(
    entry: Entry,
    execution: Execution,
    outcome: ExecutionOutcome,
    startedAt: number,
    durationMs: number,
    span: Span,
  ): void {
    this.executions.delete(execution);
    const { row, attempt } = entry;
    const { term, log } = this.deps;
    const result = classify(outcome, { id: row.id, maxAttempts: entry.maxAttempts }, attempt, entry.kind);
    endAttemptSpan(span, result.label, result.error);
    const finishedAt = Date.now();
    const error = result.error?.message ?? null;
    const recorded = { ledgerId: entry.ledgerId!, outcome: result.ledgerOutcome, error, finishedAt };
    this.successes.record(recorded, attempt >= entry.maxAttempts);
    this.completions.push(result.completion);
    const ms = Math.round(durationMs * 10) / 10;
    this.deps.metrics.executionFinished({
      recordId: row.id,
      kind: row.kind,
      attempt,
      epoch: term.epoch,
      outcome: result.label,
      durationMs: ms,
      error,
      finishedAt,
    });
    const line = { recordId: row.id, attempt, kind: row.kind, outcome: result.label, startedAt, durationMs: ms };
    if (result.label === 'succeeded') this.deps.successLog.info(line, 'execution succeeded');
    else if (result.label === 'cancelled')
      log.info({ ...line, err: result.error }, 'execution cancelled; record is cancelled');
    else
      log.warn(
        { ...line, err: result.error },
        result.label === 'dead' ? 'execution failed; record is dead' : 'execution failed; will retry',
      );
    this.settled();
    this.deps.onExecutionEnded(entry.kind.name);
  }

  private settled(): void {
    this.outstanding--;
    if (this.isSealed && this.outstanding === 0) void this.finish();
  }

  private async finish(): Promise<void> {
    const { ledger, log } = this.deps;
    try {
      if (this.skipped.size > 0)
        log.info({ skipped: Object.fromEntries(this.skipped) }, 'claimed records not started; they stay pending');
      await ledger.discardUnstarted(this.discards);
      const uncertain = this.session.uncertain;
      if (uncertain) {
        log.warn(
          { reason: uncertain.message, records: this.rows.length },
          "batch ends without its completion: its rows' locks were uncertain; the ledger keeps their attempts",
        );
        await this.successes.write();
        await this.session.abandon();
        return;
      }
      try {
        const changed = await this.session.complete(this.completions);
        this.wasCommitted = true;
        if (changed === this.completions.length) this.successes.drop();
        else {
          log.error(
            { expected: this.completions.length, changed },
            'completion changed fewer rows than the batch held; its successes are written to the ledger',
          );
          await this.successes.write();
        }
      } catch (err) {
        log.warn(
          { err, records: this.rows.length },
          'batch completion failed; its rows roll back to pending and the ledger keeps their attempts',
        );
        await this.successes.write();
        await this.session.abandon();
      }
    } finally {
      this.resolveEnded();
      this.deps.onEnded(this);
    }
  }
}
