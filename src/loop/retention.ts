import type pg from 'pg';
import { sleep } from '../async.js';
import type { RetentionConfig } from '../config.js';
import { createPool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import { prune } from '../operations/prune.js';

const DAY_MS = 86_400_000;

export interface RetentionTimings {
  /** The first pass, after the term starts (its first claims go first). */
  firstPassAfterMs: number;
  /** Between the end of one pass and the start of the next. */
  intervalMs: number;
  /** Records looked at per statement, and the pause between statements. */
  batchSize: number;
  pauseMs: number;
}

export const RETENTION_TIMINGS: RetentionTimings = {
  firstPassAfterMs: 1_000,
  intervalMs: 60_000,
  batchSize: 500,
  pauseMs: 20,
};

/**
 * The leader's retention, for one term: a pass of `prune` (small batches, paced) shortly after the term
 * starts and then every interval, deleting finished records older than RETAIN_SUCCEEDED_DAYS or
 * RETAIN_FINISHED_DAYS with their ledger rows and history. Pending records are never touched, and a row some
 * statement holds is skipped. It has a connection of its own, so it never waits for (or holds up) the claim's
 * and the ledger's. `stop()` ends it between batches; it is safe before `start()` and twice.
 */
export class Retention {
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly databaseUrl: string,
    private readonly config: RetentionConfig,
    private readonly log: Logger,
    private readonly timings: RetentionTimings = RETENTION_TIMINGS,
  ) {}

  /** A retention for one term: started now, stopped when `until` aborts (stop() still waits for its end). */
  static duringTerm(
    databaseUrl: string,
    config: RetentionConfig | undefined,
    log: Logger,
    until: AbortSignal,
  ): Retention {
    const retention = new Retention(databaseUrl, config ?? { succeededDays: undefined, finishedDays: undefined }, log);
    retention.start();
    until.addEventListener('abort', () => void retention.stop(), { once: true });
    return retention;
  }

  /** Whether a setting asks for retention at all. */
  get enabled(): boolean {
    return this.config.succeededDays !== undefined || this.config.finishedDays !== undefined;
  }

  start(): void {
    if (!this.enabled || this.running || this.stopping.signal.aborted) return;
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const signal = this.stopping.signal;
    await sleep(this.timings.firstPassAfterMs, signal);
    if (signal.aborted) return;
    const pool = createPool({
      databaseUrl: this.databaseUrl,
      max: 1,
      applicationName: 'retry-worker retention',
      session: { statement_timeout: 30_000, lock_timeout: 1_000 },
      onError: (err) => this.log.debug({ err }, 'retention database connection failed'),
    });
    try {
      await this.passes(pool, signal);
    } finally {
      await pool.end();
    }
  }

  private async passes(pool: pg.Pool, signal: AbortSignal): Promise<void> {
    const { succeededDays, finishedDays } = this.config;
    while (!signal.aborted) {
      try {
        const pruned = await prune(pool, {
          succeededOlderThanMs: succeededDays === undefined ? undefined : succeededDays * DAY_MS,
          finishedOlderThanMs: finishedDays === undefined ? undefined : finishedDays * DAY_MS,
          batchSize: this.timings.batchSize,
          pauseMs: this.timings.pauseMs,
          signal,
        });
        if (pruned.records > 0) this.log.info({ ...pruned }, 'retention: deleted finished records');
      } catch (err) {
        this.log.warn({ err }, 'retention pass failed; trying again at the next interval');
      }
      await sleep(this.timings.intervalMs, signal);
    }
  }
}
