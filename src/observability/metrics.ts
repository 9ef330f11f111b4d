import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RECORD_STATUSES, type QueueStats } from '../db/queue-stats.js';
import type { Term } from '../election/term.js';
import { RecentExecutions, type ExecutionFinished, type ExecutionOutcomeLabel } from './recent-executions.js';

export type FencedStage = 'fence' | 'claim';
export type { ExecutionFinished };

const OUTCOMES: readonly ExecutionOutcomeLabel[] = ['succeeded', 'failed', 'dead', 'skipped'];

/**
 * The Prometheus metrics of one replica, in a Registry of its own (never prom-client's global one, so that
 * several workers in one process do not clash). The gate, the loop and the batch report events here; the
 * term gauges and the queue gauges are computed when scraped. Constructing it does no I/O.
 *
 * Queue gauges need a reader (observeQueue()); the HTTP server sets one over its own small pool. Reads are
 * shared for `queueMaxAgeMs`, so a scrape and a status page refresh cost one query.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly recent = new RecentExecutions(20);
  private term: Term | undefined;
  private queueReader: (() => Promise<QueueStats>) | undefined;
  private queueRead: { at: number; value: Promise<QueueStats | undefined> } | undefined;

  private readonly leader: Gauge;
  private readonly epoch: Gauge;
  private readonly termsStarted: Counter;
  private readonly termsEnded: Counter<'reason'>;
  private readonly claimedBatches: Counter;
  private readonly claimedRecords: Counter;
  private readonly executions: Counter<'outcome'>;
  private readonly executionSeconds: Histogram<'outcome'>;
  // Per-outcome children, looked up once: label lookups by object hash on every execution cost more than the count.
  private readonly byOutcome: Record<ExecutionOutcomeLabel, { count: { inc(): void }; seconds: { observe(value: number): void } }>;
  private readonly fencedRejections: Counter<'stage'>;
  private readonly queueStatsErrors: Counter;

  constructor(private readonly options: { queueMaxAgeMs?: number } = {}) {
    const registers = [this.registry];
    this.leader = new Gauge({ name: 'retry_worker_leader', help: '1 while this replica executes a term, else 0', registers });
    this.epoch = new Gauge({ name: 'retry_worker_epoch', help: 'epoch of the term this replica executes (0 while it does not lead)', registers });
    const self = this;
    new Gauge({
      name: 'retry_worker_safe_until_remaining_ms',
      help: "ms left before this leader's lease may have expired; it stops claiming at 0 (0 while not leading)",
      registers,
      collect() {
        const term = self.term;
        this.set(term && !term.signal.aborted ? Math.max(0, Math.round(term.remainingMs())) : 0);
      },
    });
    this.termsStarted = new Counter({ name: 'retry_worker_terms_started_total', help: 'terms this replica started executing (after the fence)', registers });
    this.termsEnded = new Counter({ name: 'retry_worker_terms_ended_total', help: 'terms this replica stopped executing, by reason', labelNames: ['reason'], registers });
    this.claimedBatches = new Counter({ name: 'retry_worker_claimed_batches_total', help: 'claim transactions that locked at least one record', registers });
    this.claimedRecords = new Counter({ name: 'retry_worker_claimed_records_total', help: 'records locked by claims', registers });
    this.executions = new Counter({ name: 'retry_worker_executions_total', help: 'executions by outcome (skipped: claimed, but the term ended before it started)', labelNames: ['outcome'], registers });
    this.executionSeconds = new Histogram({
      name: 'retry_worker_execution_seconds',
      help: 'handler run time, by outcome',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.fencedRejections = new Counter({ name: 'retry_worker_fenced_rejections_total', help: 'times Postgres refused this replica because it holds a newer epoch, by stage', labelNames: ['stage'], registers });
    this.queueStatsErrors = new Counter({ name: 'retry_worker_queue_stats_errors_total', help: 'queue statistics reads that failed (the queue gauges then keep their last values)', registers });
    new Gauge({
      name: 'retry_worker_queue_records',
      help: 'rows of failed_records by status',
      labelNames: ['status'],
      registers,
      async collect() {
        const stats = await self.queueStats();
        if (stats) for (const status of RECORD_STATUSES) this.set({ status }, stats.records[status]);
      },
    });
    new Gauge({
      name: 'retry_worker_queue_due_records',
      help: 'pending rows whose next_run_at has come',
      registers,
      async collect() {
        const stats = await self.queueStats();
        if (stats) this.set(stats.due);
      },
    });
    new Gauge({
      name: 'retry_worker_queue_oldest_due_age_seconds',
      help: 'how long the oldest due pending row has waited past its next_run_at (0 when none is due)',
      registers,
      async collect() {
        const stats = await self.queueStats();
        if (stats) this.set(stats.oldestDueAgeSeconds);
      },
    });
    for (const outcome of OUTCOMES) this.executions.inc({ outcome }, 0);
    const child = (outcome: ExecutionOutcomeLabel) => ({ count: this.executions.labels({ outcome }), seconds: this.executionSeconds.labels({ outcome }) });
    this.byOutcome = { succeeded: child('succeeded'), failed: child('failed'), dead: child('dead'), skipped: child('skipped') };
    for (const stage of ['fence', 'claim'] as const) this.fencedRejections.inc({ stage }, 0);
    this.leader.set(0);
    this.epoch.set(0);
  }

  /** The term this replica executes now, if any. */
  currentTerm(): Term | undefined {
    return this.term;
  }

  /** The gate fenced `term` and starts executing it. */
  termStarted(term: Term): void {
    this.term = term;
    this.termsStarted.inc();
    this.leader.set(1);
    this.epoch.set(term.epoch);
  }

  /** The gate stopped executing `term`. Counted once per term; later calls are no-ops. */
  termEnded(term: Term, reason: string): void {
    if (this.term !== term) return;
    this.term = undefined;
    this.termsEnded.inc({ reason });
    this.leader.set(0);
    this.epoch.set(0);
  }

  claimed(records: number): void {
    this.claimedBatches.inc();
    this.claimedRecords.inc(records);
  }

  executionFinished(execution: ExecutionFinished): void {
    const children = this.byOutcome[execution.outcome];
    children.count.inc();
    if (execution.outcome !== 'skipped') children.seconds.observe(execution.durationMs / 1000);
    this.recent.add(execution);
  }

  fencedRejection(stage: FencedStage): void {
    this.fencedRejections.inc({ stage });
  }

  /** Sets (or clears) what computes the queue gauges. */
  observeQueue(reader: (() => Promise<QueueStats>) | undefined): void {
    this.queueReader = reader;
    this.queueRead = undefined;
  }

  /** The latest queue statistics, read at most once per `queueMaxAgeMs`; undefined without a reader or on error. */
  queueStats(): Promise<QueueStats | undefined> {
    const reader = this.queueReader;
    if (!reader) return Promise.resolve(undefined);
    const now = performance.now();
    if (this.queueRead && now - this.queueRead.at < (this.options.queueMaxAgeMs ?? 1_000)) return this.queueRead.value;
    const value = reader().catch(() => {
      this.queueStatsErrors.inc();
      return undefined;
    });
    this.queueRead = { at: now, value };
    return value;
  }

  /** Prometheus text exposition of every metric. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
