import { sleep, withTimeout } from '../async.js';
import type { DispatchConfig } from '../config.js';
import { type DispatchedRow, dispatchedByKind, dispatchRecords, undispatch } from '../db/dispatch-records.js';
import { listenOrPoll } from '../db/listen-due.js';
import type { Term } from '../election/term.js';
import { FencedError } from '../errors.js';
import type { TermLoop } from '../leadership-gate.js';
import { DatabaseContact } from '../loop/database-contact.js';
import { KindLimits } from '../loop/kind-limits.js';
import { Retention } from '../loop/retention.js';
import type { RetryLoopDeps } from '../loop/retry-loop.js';
import { TermEnding } from '../loop/term-ending.js';
import type { Logger } from '../observability/logger.js';
import { Waker } from '../waker.js';
import type { Publisher } from './publisher.js';

/**
 * While BATCH_SIZE messages are in flight, the leader counts them again after this long, so that the queue is
 * topped up as consumers finish records (they do not tell the leader); twice as long after each count that
 * found no room, up to the poll interval. Waiting the whole poll interval at once left the consumers idle once
 * they had drained the queue: at most BATCH_SIZE records a poll interval, whatever the number of replicas.
 */
const REFILL_CHECK_MS = 100;

export interface DispatchLoopDeps extends RetryLoopDeps {
  dispatch: DispatchConfig;
  publisher: Publisher;
}

/**
 * Dispatch mode, for one term of the leader: find due records, mark them, publish one message each.
 *
 *   ┌─▶ broker down? wait for it ── count messages in flight ── room? ── choose + mark (fenced, one commit) ─┐
 *   └──────────── NOTIFY, poll interval ◀── publish each, paced by its kind's rate; unconfirmed: unmark ◀──┘
 *
 * At most BATCH_SIZE messages are in flight (published, record not completed); a kind with a concurrency
 * limit has at most that many in flight, so the limit holds across the cluster. A record whose mark is older
 * than DISPATCH_REDELIVER_AFTER_MS and whose row is not locked by an execution is published again (its
 * message was lost). Nothing here executes; the consumers (every replica) do.
 */
export class DispatchLoop implements TermLoop {
  private readonly draining = new AbortController();
  private readonly waker = new Waker();
  private readonly limits: KindLimits;
  private readonly contact: DatabaseContact;
  private running: Promise<string> | undefined;
  private readonly ending: TermEnding;
  /**
   * Until this term has dispatched once: every mark left by an earlier term counts as lost. A leader that
   * crashed between marking records and publishing them left marks without messages; its successor publishes
   * them again at once instead of after DISPATCH_REDELIVER_AFTER_MS. (A message still queued for such a record
   * becomes stale and is dropped; a record executing now is locked and skipped.)
   */
  private sweepEarlierMarks = true;

  constructor(
    private readonly deps: DispatchLoopDeps,
    private readonly term: Term,
    private readonly log: Logger,
  ) {
    this.limits = new KindLimits(deps.kinds, deps.clock);
    this.ending = new TermEnding(term, log, deps.metrics);
    this.contact = new DatabaseContact(deps.clock, deps.timings.databaseGraceMs, this.ending.databaseLost);
  }

  run(): Promise<string> {
    this.running ??= this.loop();
    return this.running;
  }

  async drain(): Promise<void> {
    this.draining.abort();
    await this.running;
  }

  /** The leader executes nothing as such (its consumer does, like every replica's). */
  executingByKind(): ReadonlyMap<string, number> {
    return new Map();
  }

  private async loop(): Promise<string> {
    const stop = AbortSignal.any([this.term.signal, this.draining.signal]);
    const { claim, timings, publisher, metrics } = this.deps;
    const listening = listenOrPoll(
      this.deps.databaseUrl,
      `retry-worker dispatch listen ${this.deps.replicaId}`,
      () => this.waker.wake(),
      this.log,
    );
    // Retention runs while this term dispatches, as in leader mode.
    const retention = Retention.duringTerm(this.deps.databaseUrl, this.deps.retention, this.log, stop);
    let waitingForBroker = false;
    let refillWaitMs = Math.min(REFILL_CHECK_MS, claim.pollIntervalMs);
    let afterWait = false;
    try {
      while (!stop.aborted && this.term.isSafe()) {
        if (!publisher.isReady) {
          if (!waitingForBroker) this.log.info('dispatching waits for the link to RabbitMQ; nothing is lost meanwhile');
          waitingForBroker = true;
          await publisher.waitReady(claim.pollIntervalMs, stop);
          continue;
        }
        if (waitingForBroker) this.log.info('RabbitMQ linked: dispatching');
        waitingForBroker = false;
        try {
          const round = await this.dispatchOnce(afterWait);
          afterWait = round === 'full';
          if (round === 'full') {
            await sleep(refillWaitMs, stop);
            refillWaitMs = Math.min(refillWaitMs * 2, claim.pollIntervalMs);
          } else {
            refillWaitMs = Math.min(REFILL_CHECK_MS, claim.pollIntervalMs);
            // A kind held to its rate's tokens is chosen again when it has one, not at the next poll.
            if (round === 'idle') await this.waker.wait(Math.min(claim.pollIntervalMs, this.limits.roomInMs()), stop);
          }
        } catch (err) {
          if (err instanceof FencedError) {
            this.ending.fenced(err);
            break;
          }
          if (stop.aborted) break; // a lost contact has ended the term
          this.log.warn({ err }, 'dispatch failed; retrying');
          await sleep(Math.max(timings.retryMinMs, Math.min(1_000, claim.pollIntervalMs)), stop);
        }
      }
      return this.ending.stopped(this.draining.signal.aborted);
    } finally {
      this.contact.stop();
      await retention.stop();
      metrics.dispatch.inFlight(undefined);
      await (await listening)?.close(timings.databaseTimeoutMs);
    }
  }

  /**
   * One round: count, choose and mark, publish. Returns `more` when it published as many as there was room for
   * (more may be due: the next round goes at once), `full` when BATCH_SIZE messages are in flight (the next
   * round counts again after REFILL_CHECK_MS), and `idle` when nothing more is due, or some messages were not
   * confirmed (the next round waits for NOTIFY or the poll interval). Less than half of BATCH_SIZE free counts
   * as full unless the round comes `afterWait`: each round reads past every message in flight, so rounds that
   * each published a record or two, as consumers finish them one by one, cost Postgres more than the records.
   */
  private async dispatchOnce(afterWait: boolean): Promise<'more' | 'full' | 'idle'> {
    const { pool, claim, timings, dispatch, metrics, clock } = this.deps;
    const redeliverAfterMs = this.sweepEarlierMarks ? 0 : dispatch.redeliverAfterMs;
    const sentAt = clock();
    const inFlight = await this.contact.report(
      sentAt,
      withTimeout(dispatchedByKind(pool, redeliverAfterMs), timings.databaseTimeoutMs, 'counting in flight'),
    );
    const total = [...inFlight.values()].reduce((a, b) => a + b, 0);
    metrics.dispatch.inFlight(total);
    const limit = claim.batchSize - total;
    if (limit <= 0 || (!afterWait && total > 0 && limit < claim.batchSize / 2)) return 'full';
    const rows = await this.contact.report(clock(), this.choose(limit, inFlight, redeliverAfterMs));
    this.sweepEarlierMarks = false;
    metrics.claimed(rows.length);
    if (rows.length === 0) return 'idle';
    const failed = await this.publishAll(rows);
    if (failed.length > 0) {
      this.log.warn(
        { records: failed.length },
        'some records were not published, or RabbitMQ did not confirm them; they stay due',
      );
      await withTimeout(undispatch(pool, failed), timings.databaseTimeoutMs, 'unmarking').catch((err: unknown) =>
        this.log.warn({ err }, `could not unmark them; they are published again after DISPATCH_REDELIVER_AFTER_MS`),
      );
    }
    return failed.length === 0 && rows.length === limit ? 'more' : 'idle';
  }

  private async choose(
    limit: number,
    inFlight: ReadonlyMap<string, number>,
    redeliverAfterMs: number,
  ): Promise<DispatchedRow[]> {
    const { pool, timings, electionName, lockKey, claim, kinds } = this.deps;
    const byLimits = this.limits.caps();
    const caps = new Map(byLimits);
    for (const kind of kinds.limited())
      if (kind.concurrency !== undefined)
        caps.set(kind.name, Math.min(caps.get(kind.name) ?? limit, kind.concurrency - (inFlight.get(kind.name) ?? 0)));
    const client = await withTimeout(pool.connect(), timings.databaseTimeoutMs, 'connecting to dispatch');
    let healthy = false;
    try {
      const rows = await withTimeout(
        dispatchRecords(client, {
          name: electionName,
          epoch: this.term.epoch,
          token: this.term.token,
          limit,
          payloadMaxBytes: claim.payloadMaxBytes,
          lockKey,
          caps,
          dispatch: { redeliverAfterMs },
        }),
        timings.databaseTimeoutMs,
        'dispatch',
      );
      healthy = true;
      // Told of its own caps only: a kind held by its messages in flight is not one whose next token should
      // bring a round (it would come at once, round after round, while they stay in flight).
      this.limits.claimed(rows, byLimits);
      return rows;
    } catch (err) {
      healthy = err instanceof FencedError;
      throw err;
    } finally {
      client.release(!healthy);
    }
  }

  /**
   * Publishes every row, in the order chosen, taking a token of its kind's rate for each, without waiting for one
   * confirm before the next publication (so a crash leaves few marks without a message). Returns the rows not
   * confirmed, and those it did not publish: a round chooses no more of a kind than it has tokens for (choose),
   * so a kind out of tokens here is a miscount, and its rows are left for a later round rather than waited for.
   */
  private async publishAll(rows: readonly DispatchedRow[]): Promise<DispatchedRow[]> {
    const failed: DispatchedRow[] = [];
    const confirms: Promise<void>[] = [];
    for (const row of rows) {
      const kind = this.deps.kinds.get(row.kind);
      if (kind && this.limits.waitToStart(kind) > 0) {
        failed.push(row);
        continue;
      }
      const message = { id: row.id, uid: row.uid, token: row.token, epoch: this.term.epoch };
      confirms.push(
        this.deps.publisher.publish(message).then((confirmed) => {
          if (confirmed) this.deps.metrics.dispatch.published(row.redispatch);
          else failed.push(row);
        }),
      );
    }
    await Promise.all(confirms);
    return failed;
  }
}
