import type pg from 'pg';
import type { AttemptRecorder } from './attempt-recorder.js';
import type { ClaimedRecord } from './db/claim-records.js';
import { completeRecords, type Completion } from './db/complete-records.js';
import { startAttempts, type AttemptPlan } from './db/start-attempts.js';
import type { Term } from './election/term.js';
import { retryDelayMs, type Backoff } from './executor/backoff.js';
import { AbortFanout } from './executor/abort-fanout.js';
import type { Deadlines } from './executor/deadlines.js';
import { executeRecord, type ExecutionOutcome, type ExecutionSettings } from './executor/execute-record.js';
import type { Handlers } from './executor/handler.js';
import { MAX_RETRY_AFTER_MS } from './executor/http-handler.js';
import type { ExecutionLines } from './observability/execution-lines.js';
import type { Logger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';
import { TimeoutError, withTimeout } from './sleep.js';
import type { Slots } from './waker.js';

export interface BatchDeps {
  pool: pg.Pool;
  slots: Slots;
  handlers: Handlers;
  knownKinds: string;
  recorder: AttemptRecorder;
  backoff: Backoff;
  /** The execution timeout, one deadline per execution. */
  timeouts: Deadlines;
  heartbeatMs: number;
  replicaId: string;
  /** Aborted on graceful shutdown: records not yet started are left for the next leader. */
  stopStarting: AbortSignal;
  /** Aborted when the shutdown timeout passes: in-flight handlers are told to stop. */
  hardStop: AbortSignal;
  /** Each statement on the claim connection answers within this, or the connection counts as lost. */
  databaseTimeoutMs: number;
  metrics: Metrics;
  /** The term's logger's execution lines. */
  lines: ExecutionLines;
  /** The records of the loop's open batches. */
  held: HeldRecords;
}

export interface Batch {
  client: pg.PoolClient;
  records: readonly ClaimedRecord[];
  /** The records' attempts, already recorded by their claim (claimAndStartAttempts); else recorded here. */
  plans?: readonly AttemptPlan[];
  term: Term;
  log: Logger;
  /** Called once per record when it starts or is settled without running. */
  onRecordDispatched: () => void;
}

type Result = { plan: AttemptPlan; outcome: ExecutionOutcome | 'skipped' };

/**
 * The records of one loop's open batches. A claim can take a record that an open batch of the loop still
 * holds only once that batch's transaction has failed: Postgres frees a failed transaction's rows at once,
 * before its error has even reached us. Such a claim must not plan attempts from a ledger that lacks what
 * the failed batch knows (outcomes still gathering, successes it took back), so it waits until that batch
 * has written them and ended. Claims of other records, the normal case, wait for nothing. (A claim that plans
 * and records the attempts itself, claimAndStartAttempts, is made only while no batch is open, so it never
 * takes such a record.)
 */
export class HeldRecords {
  private readonly holders = new Map<number, Promise<void>>();

  /** Holds `records` until `ended` resolves, once every open batch that held any of them has ended. */
  async hold(records: readonly ClaimedRecord[], ended: Promise<void>): Promise<void> {
    let earlier: Set<Promise<void>> | undefined;
    for (const { id } of records) {
      const holder = this.holders.get(id);
      if (holder) (earlier ??= new Set()).add(holder);
      this.holders.set(id, ended);
    }
    void ended.then(() => {
      for (const { id } of records) if (this.holders.get(id) === ended) this.holders.delete(id);
    });
    if (earlier) await Promise.all(earlier);
  }
}
type RunPlan = Extract<AttemptPlan, { action: 'run' }>;

/**
 * Executes one claimed batch inside its claim transaction: ledger first (autocommit), then each record in a
 * concurrency slot, then one set-based completion and COMMIT. The row locks are held throughout; a heartbeat
 * keeps the live session under idle_in_transaction_session_timeout, which ends a paused leader's session.
 * If the connection breaks, every handler's signal aborts at once; if leadership ends, no new handler starts
 * and the started ones finish.
 */
export async function runBatch(deps: BatchDeps, batch: Batch): Promise<void> {
  const { client, records, term, log } = batch;
  const connectionLost = new AbortController();
  const onConnectionError = (err: Error) => connectionLost.abort(new Error(`database connection lost: ${err.message}`, { cause: err }));
  const onConnectionEnd = () => connectionLost.abort(new Error('database connection closed'));
  client.on('error', onConnectionError);
  client.on('end', onConnectionEnd);
  // A silent connection (no answer, no close) counts as lost too: nothing else would ever tell us.
  const bounded = <T>(query: Promise<T>, what: string) => withTimeout(query, deps.databaseTimeoutMs, what);
  const heartbeat = setInterval(() => bounded(client.query('SELECT 1'), 'heartbeat').catch(onConnectionError), deps.heartbeatMs);
  // Not the term's signal: when leadership ends, executions already started run to their end (bounded by the
  // execution timeout) while this transaction keeps their rows and the barrier, so the next leader waits for
  // them. Aborting them would only abort our side of the call: the downstream could still be working on a
  // request when the next leader retries that record. A lost connection has already released the rows, so
  // it aborts at once; so does the end of the shutdown timeout.
  const signal = AbortSignal.any([connectionLost.signal, deps.hardStop]);
  const executions = new AbortFanout(signal);
  const settings: ExecutionSettings = {
    knownKinds: deps.knownKinds,
    parent: executions,
    timeouts: deps.timeouts,
    abandonAfterMs: Math.min(5_000, deps.timeouts.ms),
    fencingToken: term.epoch,
    replicaId: deps.replicaId,
    log,
  };
  let dispatched = 0;
  const dispatch = () => {
    dispatched++;
    batch.onRecordDispatched();
  };
  let destroyClient = false;
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  // Successes that the completion commits with their records instead of the ledger (see AttemptRecorder).
  let committing: ReturnType<AttemptRecorder['takeBack']> | undefined;
  try {
    await deps.held.hold(records, ended);
    const plans = batch.plans ?? (await bounded(startAttempts(deps.pool, records, term.epoch, deps.replicaId), 'recording attempts'));
    const byId = new Map(records.map((r) => [r.id, r]));
    const settled: Result[] = [];
    const toRun: RunPlan[] = [];
    for (const plan of plans) {
      if (plan.action === 'run') {
        toRun.push(plan);
      } else {
        dispatch();
        settled.push({ plan, outcome: 'skipped' });
      }
    }
    const ran = await deps.slots.runEach(toRun, (plan): Result | Promise<Result> => {
      dispatch();
      const record = byId.get(plan.recordId)!;
      // Checked synchronously right before the handler starts: a process that was paused past its lease
      // sees the passed deadline here before anything else runs.
      if (!term.isSafe() || signal.aborted || deps.stopStarting.aborted) {
        deps.recorder.record({ ledgerId: plan.ledgerId, outcome: 'skipped', error: null, finishedAt: Date.now() });
        deps.metrics.executionFinished({ recordId: record.id, kind: record.kind, attempt: plan.attempt, epoch: term.epoch, outcome: 'skipped', durationMs: 0, error: null, finishedAt: Date.now() });
        return { plan, outcome: 'skipped' };
      }
      return execute(deps, settings, record, plan, term, batch);
    });
    const results = settled.concat(ran);
    clearInterval(heartbeat);
    const completions = results.map((r) => toCompletion(r, byId.get(r.plan.recordId)!, deps.backoff)).filter((c) => c !== undefined);
    if (connectionLost.signal.aborted) throw connectionLost.signal.reason;
    committing = deps.recorder.takeBack(batch);
    const changed = await bounded(completeRecords(client, completions), 'completion');
    if (changed !== completions.length) log.error({ expected: completions.length, changed }, 'completion changed fewer rows than it held');
    await bounded(client.query('COMMIT'), 'commit');
    committing?.settled(true);
  } catch (err) {
    // Outcomes gathered but not yet written, and the successes the completion was to commit, go to the ledger
    // now: a claim of these rows (free already, see HeldRecords) must find a recorded success there rather
    // than run the record again, and waits for this batch to end. Bounded: Postgres may be the failure.
    log.warn({ err, records: records.length }, 'batch transaction failed; its rows roll back to pending and the ledger keeps their attempts');
    destroyClient = connectionLost.signal.aborted || err instanceof TimeoutError;
    committing?.settled(false);
    await bounded(deps.recorder.flush(), 'recording outcomes').catch(() => undefined);
    if (!destroyClient) {
      await bounded(client.query('ROLLBACK'), 'rollback').catch(() => {
        destroyClient = true;
      });
    }
  } finally {
    end();
    executions.close();
    clearInterval(heartbeat);
    client.off('error', onConnectionError);
    client.off('end', onConnectionEnd);
    client.release(destroyClient);
    for (; dispatched < records.length; dispatched++) batch.onRecordDispatched();
  }
}

function execute(deps: BatchDeps, settings: ExecutionSettings, record: ClaimedRecord, plan: RunPlan, term: Term, owner: Batch): Promise<Result> {
  const { log } = settings;
  // Bindings passed per line rather than a child logger per record: the handler's ctx.log is made only if read.
  deps.lines.started(record.id, plan.attempt, record.kind);
  const started = performance.now();
  const failed = { id: record.id, kind: record.kind, payload: record.payload, attempt: plan.attempt, maxAttempts: record.maxAttempts };
  return executeRecord(settings, deps.handlers[record.kind], failed).then((outcome) => finished(deps, record, plan, term, log, started, outcome, owner));
}

function finished(deps: BatchDeps, record: ClaimedRecord, plan: RunPlan, term: Term, log: Logger, started: number, outcome: ExecutionOutcome, owner: Batch): Result {
  const durationMs = Math.round((performance.now() - started) * 10) / 10;
  const finishedAt = Date.now();
  if (outcome.kind === 'succeeded') {
    deps.metrics.executionFinished({ recordId: record.id, kind: record.kind, attempt: plan.attempt, epoch: term.epoch, outcome: 'succeeded', durationMs, error: null, finishedAt });
    deps.lines.succeeded(record.id, plan.attempt, record.kind, durationMs);
    deps.recorder.record({ ledgerId: plan.ledgerId, outcome: 'succeeded', error: null, finishedAt }, owner);
    return { plan, outcome };
  }
  const final = outcome.kind === 'dead' || plan.attempt >= record.maxAttempts;
  const label = final ? 'dead' : 'failed';
  deps.metrics.executionFinished({ recordId: record.id, kind: record.kind, attempt: plan.attempt, epoch: term.epoch, outcome: label, durationMs, error: outcome.error.message, finishedAt });
  log.warn({ recordId: record.id, attempt: plan.attempt, kind: record.kind, outcome: label, durationMs, err: outcome.error }, final ? 'execution failed; record is dead' : 'execution failed; will retry');
  deps.recorder.record({ ledgerId: plan.ledgerId, outcome: outcome.kind, error: outcome.error.message, finishedAt });
  return { plan, outcome };
}

function toCompletion({ plan, outcome }: Result, record: ClaimedRecord, backoff: Backoff): Completion | undefined {
  switch (plan.action) {
    case 'succeeded':
      return completion(plan, 'succeeded', null);
    case 'dead':
      return completion(plan, 'dead', plan.error);
    case 'exhausted':
      return completion(plan, 'dead', `attempts exhausted: ${plan.attempt} of ${record.maxAttempts} attempts started and the last did not finish (its executor stopped)${plan.error ? `; earlier error: ${plan.error}` : ''}`);
    case 'run':
      break;
  }
  if (outcome === 'skipped') return undefined;
  if (outcome.kind === 'succeeded') return completion(plan, 'succeeded', null);
  if (outcome.kind === 'dead') return completion(plan, 'dead', outcome.error.message);
  if (plan.attempt >= record.maxAttempts) return completion(plan, 'dead', `attempt ${plan.attempt} of ${record.maxAttempts} failed: ${outcome.error.message}`);
  const retryAfterMs = Number.isFinite(outcome.retryAfterMs) ? outcome.retryAfterMs! : 0; // a RetryLater(msg, NaN) must not fail the batch
  const delayMs = Math.min(MAX_RETRY_AFTER_MS, Math.max(retryDelayMs(plan.attempt, backoff), retryAfterMs));
  return completion(plan, 'pending', outcome.error.message, delayMs);
}

function completion(plan: AttemptPlan, status: Completion['status'], lastError: string | null, delayMs = 0): Completion {
  return { id: plan.recordId, status, attempts: plan.attempt, delayMs, lastError };
}
