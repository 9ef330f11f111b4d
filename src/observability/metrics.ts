import { RECORD_STATUSES, type QueueStats } from '../db/queue-stats.js';
import type { Term } from '../election/term.js';
import { counterOrGauge, histogram, PROMETHEUS_CONTENT_TYPE } from './prometheus-text.js';
import { RecentExecutions, type ExecutionFinished, type ExecutionOutcomeLabel } from './recent-executions.js';

export type FencedStage = 'fence' | 'claim';
export type { ExecutionFinished };

const OUTCOMES: readonly ExecutionOutcomeLabel[] = ['succeeded', 'failed', 'dead', 'skipped'];
const STAGES: readonly FencedStage[] = ['fence', 'claim'];
const DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Handler run times of one outcome: a count per bucket (not yet cumulative), their sum and count. */
class Durations {
  readonly perBucket = new Array<number>(DURATION_BUCKETS_SECONDS.length).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    for (let i = 0; i < DURATION_BUCKETS_SECONDS.length; i++) {
      if (seconds <= DURATION_BUCKETS_SECONDS[i]!) {
        this.perBucket[i]!++;
        break;
      }
    }
    this.sum += seconds;
    this.count++;
  }

  cumulative(): number[] {
    let total = 0;
    return this.perBucket.map((n) => (total += n));
  }
}

/**
 * The Prometheus metrics of one replica, held as plain numbers of its own (so several workers in one process
 * do not clash) and spelled out in the text format when scraped. The gate, the loop and the batch report
 * events here; the term gauges and the queue gauges are computed when scraped. Constructing it does no I/O.
 * (Not prom-client: loading it took ~50 ms of every start-up, and a replica has a dozen fixed series.)
 *
 * Queue gauges need a reader (observeQueue()); the HTTP server sets one over its own small pool. Reads are
 * shared for `queueMaxAgeMs`, so a scrape and a status page refresh cost one query; after a failed read the
 * queue gauges keep their last values.
 */
export class Metrics {
  readonly recent = new RecentExecutions(20);
  private term: Term | undefined;
  private queueReader: (() => Promise<QueueStats>) | undefined;
  private queueRead: { at: number; value: Promise<QueueStats | undefined> } | undefined;
  private lastQueue: QueueStats | undefined;

  private termsStarted = 0;
  private readonly termsEnded = new Map<string, number>();
  private claimedBatches = 0;
  private claimedRecords = 0;
  private readonly executions = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<ExecutionOutcomeLabel, number>;
  private readonly durations = Object.fromEntries(OUTCOMES.map((o) => [o, new Durations()])) as Record<ExecutionOutcomeLabel, Durations>;
  private readonly fencedRejections: Record<FencedStage, number> = { fence: 0, claim: 0 };
  private queueStatsErrors = 0;

  constructor(private readonly options: { queueMaxAgeMs?: number } = {}) {}

  /** The term this replica executes now, if any. */
  currentTerm(): Term | undefined {
    return this.term;
  }

  /** The gate fenced `term` and starts executing it. */
  termStarted(term: Term): void {
    this.term = term;
    this.termsStarted++;
  }

  /** The gate stopped executing `term`. Counted once per term; later calls are no-ops. */
  termEnded(term: Term, reason: string): void {
    if (this.term !== term) return;
    this.term = undefined;
    this.termsEnded.set(reason, (this.termsEnded.get(reason) ?? 0) + 1);
  }

  claimed(records: number): void {
    this.claimedBatches++;
    this.claimedRecords += records;
  }

  executionFinished(execution: ExecutionFinished): void {
    this.executions[execution.outcome]++;
    if (execution.outcome !== 'skipped') this.durations[execution.outcome].observe(execution.durationMs / 1000);
    this.recent.add(execution);
  }

  fencedRejection(stage: FencedStage): void {
    this.fencedRejections[stage]++;
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
    const value = reader().then(
      (stats) => (this.lastQueue = stats),
      () => {
        this.queueStatsErrors++;
        return undefined;
      },
    );
    this.queueRead = { at: now, value };
    return value;
  }

  /** Prometheus text exposition of every metric. */
  async render(): Promise<{ contentType: string; body: string }> {
    await this.queueStats();
    const term = this.term;
    const live = term && !term.signal.aborted ? term : undefined;
    const queue = this.lastQueue;
    const body = [
      counterOrGauge('retry_worker_leader', 'gauge', '1 while this replica executes a term, else 0', [{ value: term ? 1 : 0 }]),
      counterOrGauge('retry_worker_epoch', 'gauge', 'epoch of the term this replica executes (0 while it does not lead)', [{ value: term?.epoch ?? 0 }]),
      counterOrGauge('retry_worker_safe_until_remaining_ms', 'gauge', "ms left before this leader's lease may have expired; it stops claiming at 0 (0 while not leading)", [
        { value: live ? Math.max(0, Math.round(live.remainingMs())) : 0 },
      ]),
      counterOrGauge('retry_worker_terms_started_total', 'counter', 'terms this replica started executing (after the fence)', [{ value: this.termsStarted }]),
      counterOrGauge('retry_worker_terms_ended_total', 'counter', 'terms this replica stopped executing, by reason', [...this.termsEnded].map(([reason, value]) => ({ labels: { reason }, value }))),
      counterOrGauge('retry_worker_claimed_batches_total', 'counter', 'claim transactions that locked at least one record', [{ value: this.claimedBatches }]),
      counterOrGauge('retry_worker_claimed_records_total', 'counter', 'records locked by claims', [{ value: this.claimedRecords }]),
      counterOrGauge('retry_worker_executions_total', 'counter', 'executions by outcome (skipped: claimed, but the term ended before it started)', OUTCOMES.map((outcome) => ({ labels: { outcome }, value: this.executions[outcome] }))),
      histogram(
        'retry_worker_execution_seconds',
        'handler run time, by outcome',
        // Skipped executions never ran: no run time.
        OUTCOMES.filter((outcome) => outcome !== 'skipped').map((outcome) => {
          const d = this.durations[outcome];
          return { labels: { outcome }, bounds: DURATION_BUCKETS_SECONDS, counts: d.cumulative(), sum: d.sum, count: d.count };
        }),
      ),
      counterOrGauge('retry_worker_fenced_rejections_total', 'counter', 'times Postgres refused this replica because it holds a newer epoch, by stage', STAGES.map((stage) => ({ labels: { stage }, value: this.fencedRejections[stage] }))),
      counterOrGauge('retry_worker_queue_stats_errors_total', 'counter', 'queue statistics reads that failed (the queue gauges then keep their last values)', [{ value: this.queueStatsErrors }]),
      counterOrGauge('retry_worker_queue_records', 'gauge', 'rows of failed_records by status', queue ? RECORD_STATUSES.map((status) => ({ labels: { status }, value: queue.records[status] })) : []),
      counterOrGauge('retry_worker_queue_due_records', 'gauge', 'pending rows whose next_run_at has come', [{ value: queue?.due ?? 0 }]),
      counterOrGauge('retry_worker_queue_oldest_due_age_seconds', 'gauge', 'how long the oldest due pending row has waited past its next_run_at (0 when none is due)', [{ value: queue?.oldestDueAgeSeconds ?? 0 }]),
    ].join('');
    return { contentType: PROMETHEUS_CONTENT_TYPE, body };
  }
}
