import { hostname } from 'node:os';
import type pg from 'pg';
import { pruneReplicas } from './db/prune-replicas.js';
import { recordHeartbeat } from './db/record-heartbeat.js';
import type { Logger } from './observability/logger.js';

/** How often a replica writes its heartbeat; `status` calls a replica silent after three missed beats. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
/** Heartbeat rows not written for this long are deleted when a replica starts. */
const PRUNE_AFTER_SECONDS = 86_400;

export interface ReplicaHeartbeatOptions {
  pool: pg.Pool;
  electionName: string;
  replicaId: string;
  backend: string;
  /** EXECUTION_MODE (default leader). */
  mode?: string;
  /** The epoch this replica executes now, or undefined while it follows. */
  leadingEpoch: () => number | undefined;
  log: Logger;
  intervalMs?: number;
}

/**
 * Upserts this replica's row of retry_worker_replicas at start and every intervalMs, so that `retry-worker
 * status` can list the replicas seen recently; the last beat, from stop(), marks the row stopped. A failed
 * beat is logged at debug and the next one tries again: the heartbeat is for operators, never for
 * correctness. start() and stop() are safe twice; stop() is safe before start().
 */
export class ReplicaHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private started = false;
  private busy = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: ReplicaHeartbeatOptions) {}

  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    const { pool, electionName, log } = this.options;
    pruneReplicas(pool, electionName, PRUNE_AFTER_SECONDS).catch((err) =>
      log.debug({ err }, 'could not prune old heartbeats'),
    );
    this.beat(false);
    this.timer = setInterval(() => this.beat(false), this.options.intervalMs ?? HEARTBEAT_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.timer);
      await this.inFlight;
      if (this.started) {
        this.beat(true);
        await this.inFlight;
      }
    })();
    return this.stopping;
  }

  private beat(stopped: boolean): void {
    // One beat at a time: while the database is slow, beats are skipped rather than queued.
    if (this.busy || (this.stopping && !stopped)) return;
    const { pool, electionName, replicaId, backend, log } = this.options;
    this.busy = true;
    this.inFlight = recordHeartbeat(pool, {
      electionName,
      replicaId,
      backend,
      mode: this.options.mode,
      host: hostname(),
      pid: process.pid,
      leadingEpoch: stopped ? null : (this.options.leadingEpoch() ?? null),
      stopped,
    })
      .catch((err) => log.debug({ err }, 'could not write the heartbeat'))
      .finally(() => {
        this.busy = false;
      });
  }
}
