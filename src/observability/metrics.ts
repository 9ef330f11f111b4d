import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type QueueStats, RECORD_STATUSES } from '../db/queue-stats.js';
import type { Term } from '../election/term.js';
import { type ExecutionFinished, RecentExecutions } from './recent-executions.js';

export type { ExecutionFinished };
export type FencedStage = 'fence' | 'claim';

const DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export interface MetricsOptions {
  /** The standard Node process metrics (CPU, memory, event-loop lag, GC, handles) in this registry too (default true). */
  defaultMetrics?: boolean;
  /** How long one read of the queue gauges is shared (default 1000 ms). */
  queueMaxAgeMs?: number;
}

/**
 * One replica's Prometheus metrics, in a prom-client Registry of its own (so several workers in one process do
 * not clash, and a host application can merge it: `Registry.merge([worker.metrics.registry, ...])`). The loop
 * and the gate report events here; the leadership gauges read the gate's current term when scraped, and the
 * queue gauges a reader the HTTP server sets (one query per scrape, shared for queueMaxAgeMs).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly recent = new RecentExecutions(20);
  private leadership: () => Term | undefined = () => undefined;
  private queueReader: (() => Promise<QueueStats>) | undefined;
  private queueRead: { at: number; settled: boolean; value: Promise<QueueStats | undefined> } | undefined;
  private lastQueue: QueueStats | undefined;

  private readonly termsStarted: Counter;
  private readonly termsEnded: Counter<'reason'>;
  private readonly claimedBatches: Counter;
  private readonly claimedRecords: Counter;
  private readonly executions: Counter<'kind' | 'outcome'>;
  private readonly durations: Histogram<'kind' | 'outcome'>;
  private readonly skipped: Counter<'reason'>;
  private readonly fencedRejections: Counter<'stage'>;
  private readonly stalls: Counter;
  private readonly queueStatsErrors: Counter;

  constructor(private readonly options: MetricsOptions = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    const metrics = this;
    new Gauge({
      name: 'retry_worker_leader',
      help: '1 while this replica executes a term, else 0',
      registers,
      collect() {
        this.set(metrics.leadership() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'retry_worker_epoch',
      help: 'epoch of the term this replica executes (0 while it does not lead)',
      registers,
      collect() {
        this.set(metrics.leadership()?.epoch ?? 0);
      },
    });
    new Gauge({
      name: 'retry_worker_safe_until_remaining_ms',
      help: "ms left before this leader's lease may have expired; it stops claiming at 0",
      registers,
      collect() {
        const term = metrics.leadership();
        this.set(term && !term.signal.aborted ? Math.max(0, Math.round(term.remainingMs())) : 0);
      },
    });
    this.termsStarted = new Counter({
      name: 'retry_worker_terms_started_total',
      help: 'terms this replica started executing (after the fence)',
      registers,
    });
    this.termsEnded = new Counter({
      name: 'retry_worker_terms_ended_total',
      help: 'terms this replica stopped executing, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.claimedBatches = new Counter({
      name: 'retry_worker_claimed_batches_total',
      help: 'claim transactions that locked at least one record',
      registers,
    });
    this.claimedRecords = new Counter({
      name: 'retry_worker_claimed_records_total',
      help: 'records locked by claims',
      registers,
    });
    this.executions = new Counter({
      name: 'retry_worker_executions_total',
      help: "executions by kind and by the record's fate (succeeded, failed: will retry, dead)",
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.durations = new Histogram({
      name: 'retry_worker_execution_seconds',
      help: 'handler run time by kind and outcome',
      labelNames: ['kind', 'outcome'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.skipped = new Counter({
      name: 'retry_worker_skipped_total',
      help: 'claimed records that were not started, by reason (term-ended, draining, rows-uncertain)',
      labelNames: ['reason'],
      registers,
    });
    this.fencedRejections = new Counter({
      name: 'retry_worker_fenced_rejections_total',
      help: 'times Postgres refused this replica because it holds another term, by stage',
      labelNames: ['stage'],
      registers,
    });
    // Series that exist from the start, at 0, so that a rate or an alert over them has a baseline.
    for (const stage of ['fence', 'claim']) this.fencedRejections.labels(stage).inc(0);
    for (const reason of ['term-ended', 'draining', 'rows-uncertain', 'ledger-failed'])
      this.skipped.labels(reason).inc(0);
    this.stalls = new Counter({
      name: 'retry_worker_event_loop_stalls_total',
      help: 'event-loop stalls long enough to end a term',
      registers,
    });
    new Gauge({
      name: 'retry_worker_queue_records',
      help: 'rows of failed_records by status',
      labelNames: ['status'],
      registers,
      async collect() {
        const queue = await metrics.queueStats();
        for (const status of RECORD_STATUSES) if (queue) this.set({ status }, queue.records[status]);
      },
    });
    new Gauge({
      name: 'retry_worker_queue_due_records',
      help: 'pending rows whose next_run_at has come',
      registers,
      async collect() {
        this.set((await metrics.queueStats())?.due ?? 0);
      },
    });
    new Gauge({
      name: 'retry_worker_queue_oldest_due_age_seconds',
      help: 'how long the oldest due pending row has waited past its next_run_at',
      registers,
      async collect() {
        this.set((await metrics.queueStats())?.oldestDueAgeSeconds ?? 0);
      },
    });
    // After the queue gauges: a scrape counts a failed read of its own.
    this.queueStatsErrors = new Counter({
      name: 'retry_worker_queue_stats_errors_total',
      help: 'queue statistics reads that failed (the queue gauges keep their last values)',
      registers,
    });
  }

  /** Where the leadership gauges read the term this replica executes (the leadership gate owns it). */
  observeLeadership(current: () => Term | undefined): void {
    this.leadership = current;
  }

  termStarted(): void {
    this.termsStarted.inc();
  }

  termEnded(reason: string): void {
    this.termsEnded.inc({ reason });
  }

  claimed(records: number): void {
    this.claimedBatches.inc();
    this.claimedRecords.inc(records);
  }

  executionFinished(execution: ExecutionFinished): void {
    const labels = { kind: execution.kind, outcome: execution.outcome };
    this.executions.inc(labels);
    this.durations.observe(labels, execution.durationMs / 1000);
    this.recent.add(execution);
  }

  recordsSkipped(reason: string, count: number): void {
    this.skipped.inc({ reason }, count);
  }

  fencedRejection(stage: FencedStage): void {
    this.fencedRejections.inc({ stage });
  }

  stalled(): void {
    this.stalls.inc();
  }

  /** Sets (or clears) what computes the queue gauges. */
  observeQueue(reader: (() => Promise<QueueStats>) | undefined): void {
    this.queueReader = reader;
    this.queueRead = undefined;
  }

  /** The latest queue statistics, read at most once per queueMaxAgeMs; undefined without a reader. */
  queueStats(): Promise<QueueStats | undefined> {
    const reader = this.queueReader;
    if (!reader) return Promise.resolve(undefined);
    const now = performance.now();
    const read = this.queueRead;
    // One read at a time (a scrape's three queue gauges share it), and its result for queueMaxAgeMs.
    if (read && (read.settled === false || now - read.at < (this.options.queueMaxAgeMs ?? 1_000))) return read.value;
    const next: { at: number; settled: boolean; value: Promise<QueueStats | undefined> } = {
      at: now,
      settled: false,
      value: Promise.resolve(undefined),
    };
    next.value = reader()
      .then(
        (stats) => (this.lastQueue = stats),
        () => {
          this.queueStatsErrors.inc();
          return this.lastQueue;
        },
      )
      .finally(() => (next.settled = true));
    this.queueRead = next;
    return next.value;
  }

  /** Prometheus text of every metric of this registry. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
