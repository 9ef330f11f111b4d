import type pg from 'pg';
import { aborted, sleep } from '../async.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { listenForCancels } from '../db/listen-due.js';
import { createPool } from '../db/pool.js';
import { termLockKey } from '../db/term-lock.js';
import type { Term } from '../election/term.js';
import { ExecutionAborted } from '../errors.js';
import type { KindRegistry } from '../executor/kinds.js';
import type { TermLoop } from '../leadership-gate.js';
import type { RetryLoopDeps } from '../loop/retry-loop.js';
import { StallWatch } from '../loop/stall-watch.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { leaderSessionSettings, type Timings } from '../timings.js';
import { DispatchConsumer } from './dispatch-consumer.js';
import { DispatchLoop } from './dispatch-loop.js';
import { queueName } from './dispatch-message.js';
import { Publisher } from './publisher.js';

/**
 * EXECUTION_MODE=dispatch's parts of one replica: a publisher that the leader's terms dispatch through, and a
 * consumer that executes, on a pool of its own. start() connects (in the background: a broker that is down is
 * waited for, and said so); stop() drains the consumer, then closes everything. stop() is safe twice.
 */
export class DispatchMode {
  private readonly publisher: Publisher;
  private readonly consumer: DispatchConsumer;
  private readonly pool: pg.Pool;
  private readonly stallWatch: StallWatch;
  private readonly stopping = new AbortController();
  private cancels: Promise<void> | undefined;

  constructor(
    private readonly config: Config,
    private readonly timings: Timings,
    kinds: KindRegistry,
    metrics: Metrics,
    clock: Clock,
    private readonly log: Logger,
  ) {
    const c = config;
    const url = c.dispatch.amqpUrl!;
    const queue = queueName(c.election.name);
    metrics.dispatch.setMode('dispatch');
    this.publisher = new Publisher(url, queue, log);
    // One transaction per group of deliveries (at most CONCURRENCY records executing), and the ledger's writes
    // beside them. Its statements are prepared: the lock (arrays of ids and tokens), the completion and the
    // ledger writes up to 16 rows: planned once per connection, generically. (Left to choose, Postgres planned
    // the completion's unnest of one row anew for every message.) The setting also gives the unnamed ledger
    // writes of more rows (CONCURRENCY above 16) a generic plan: a nested loop on the primary key, as good.
    this.pool = createPool({
      databaseUrl: c.database.url,
      max: c.execution.concurrency + 3,
      applicationName: `retry-worker consumer ${c.replicaId}`,
      session: { ...leaderSessionSettings(timings), plan_cache_mode: 'force_generic_plan' },
      connectionTimeoutMs: timings.databaseTimeoutMs,
      onError: (err) => log.warn({ err }, 'consumer database connection failed'),
    });
    this.consumer = new DispatchConsumer({
      url,
      queue,
      pool: this.pool,
      electionName: c.election.name,
      lockKey: termLockKey(c.election.name),
      replicaId: c.replicaId,
      execution: c.execution,
      payloadMaxBytes: c.claim.payloadMaxBytes,
      timings,
      kinds,
      metrics,
      clock,
      log,
    });
    // A stall past the row-lock margin: Postgres may have ended the groups' transactions meanwhile, so every
    // handler running here is aborted, as leader mode's StallWatch aborts the leader's.
    this.stallWatch = new StallWatch(clock, timings.stallLimitMs, (stalledMs) => {
      log.error(
        { stalledMs, limitMs: timings.stallLimitMs },
        'the event loop stalled past the row-lock margin; aborting the executions here (handlers must not block)',
      );
      metrics.stalled();
      this.consumer.abort(new ExecutionAborted('stalled', `the event loop stalled for ${stalledMs} ms`));
    });
  }

  start(): void {
    this.publisher.start();
    this.consumer.start();
    this.stallWatch.start();
    this.cancels ??= this.listenForCancels();
  }

  /**
   * `retry-worker cancel` of an executing record NOTIFYs; any replica's consumer may hold the record, so every
   * replica listens for as long as it runs, on a connection of its own, and listens again after a failure.
   */
  private async listenForCancels(): Promise<void> {
    const { config: c, log } = this;
    while (!this.stopping.signal.aborted) {
      const lost = new AbortController();
      try {
        const listener = await listenForCancels(
          c.database.url,
          `retry-worker cancels ${c.replicaId}`,
          (recordId) => {
            if (this.consumer.cancel(recordId)) log.info({ recordId }, 'cancel requested: aborting the record');
          },
          (err) => {
            log.warn({ err }, 'the LISTEN connection for cancels failed; listening again');
            lost.abort();
          },
        );
        await aborted(AbortSignal.any([lost.signal, this.stopping.signal]));
        await listener.close(this.timings.databaseTimeoutMs);
      } catch (err) {
        log.warn({ err }, 'could not LISTEN for cancels; trying again');
      }
      await sleep(1_000, this.stopping.signal);
    }
  }

  /** The leader's loop for a term: the dispatcher. */
  termLoop(deps: RetryLoopDeps): (term: Term, log: Logger) => TermLoop {
    return (term, log) =>
      new DispatchLoop({ ...deps, dispatch: this.config.dispatch, publisher: this.publisher }, term, log);
  }

  executingByKind(): ReadonlyMap<string, number> {
    return this.consumer.executingByKind();
  }

  async stop(shutdownTimeoutMs: number): Promise<void> {
    this.stopping.abort();
    this.stallWatch.stop();
    await this.cancels;
    await this.consumer.stop(shutdownTimeoutMs);
    await this.publisher.stop();
    await this.pool.end().catch(() => undefined);
  }
}
