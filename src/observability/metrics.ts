import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { DispatchMetrics } from './dispatch-metrics.js';
import { type ExecutionFinished, RecentExecutions } from './recent-executions.js';
import { registerStateGauges, type StateSources } from './state-gauges.js';

export type { ExecutionFinished };
export type FencedStage = 'fence' | 'claim';
/** Why a claimed record was not started (skipped_total's reason): every one has its series from the start. */
export const SKIP_REASONS = [
  'term-ended',
  'draining',
  'rows-uncertain',
  'ledger-failed',
  'earlier-batch-open',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

const DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export interface MetricsOptions {
  /**
   * The standard Node process metrics (CPU, memory, event-loop lag, GC, handles) in this registry too
   * (default true).
   */
  defaultMetrics?: boolean;
}

/**
 * One replica's Prometheus metrics, in a prom-client Registry of its own (so several workers in one process do
 * not clash, and a host application can merge it: `Registry.merge([worker.metrics.registry, ...])`). The loop
 * and the gate report events here; the state gauges (state-gauges.ts) read the gate and the database when
 * scraped, through the sources observeState() sets.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly recent = new RecentExecutions(20);
  /** Dispatch mode's counters (and the mode gauge), in this registry. */
  readonly dispatch: DispatchMetrics;
  private state: StateSources = { leadership: () => undefined, executingByKind: () => new Map(), cluster: undefined };

  private readonly termsStarted: Counter;
  private readonly termsEnded: Counter<'reason'>;
  private readonly claimedBatches: Counter;
  private readonly claimedRecords: Counter;
  private readonly emptyClaims: Counter;
  private readonly recordedAheadTotal: Counter;
  private readonly executions: Counter<'kind' | 'outcome'>;
  private readonly durations: Histogram<'kind' | 'outcome'>;
  private readonly skipped: Counter<'reason'>;
  private readonly fencedRejections: Counter<'stage'>;
  private readonly stalls: Counter;
  private readonly queueStatsErrors: Counter;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
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
    this.emptyClaims = new Counter({
      name: 'retry_worker_empty_claims_total',
      help: 'claims that found no due record (polls, and wake-ups with nothing to do)',
      registers,
    });
    this.recordedAheadTotal = new Counter({
      name: 'retry_worker_attempts_recorded_ahead_total',
      help: 'attempts an idle leader recorded in the ledger beside the claim that took their record, not after it',
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
    for (const reason of SKIP_REASONS) this.skipped.labels(reason).inc(0);
    this.stalls = new Counter({
      name: 'retry_worker_event_loop_stalls_total',
      help: 'event-loop stalls past the row-lock margin (the term ends; in dispatch mode the handlers running abort)',
      registers,
    });
    registerStateGauges(registers, () => this.state);
    this.dispatch = new DispatchMetrics(registers);
    this.queueStatsErrors = new Counter({
      name: 'retry_worker_queue_stats_errors_total',
      help: 'queue statistics reads that failed (the queue gauges keep their last values)',
      registers,
    });
  }

  termStarted(): void {
    this.termsStarted.inc();
  }

  termEnded(reason: string): void {
    this.termsEnded.inc({ reason });
  }

  /** A claim (leader mode), or a dispatch leader's choice of records to publish, locked `records` (0: none due). */
  claimed(records: number): void {
    if (records === 0) {
      this.emptyClaims.inc();
      return;
    }
    this.claimedBatches.inc();
    this.claimedRecords.inc(records);
  }

  /** An idle leader's attempt recorded beside its claim was used (AttemptLedger.startAhead). */
  recordedAhead(): void {
    this.recordedAheadTotal.inc();
  }

  executionFinished(execution: ExecutionFinished): void {
    const labels = { kind: execution.kind, outcome: execution.outcome };
    this.executions.inc(labels);
    this.durations.observe(labels, execution.durationMs / 1000);
    this.recent.add(execution);
  }

  recordsSkipped(reason: SkipReason, count: number): void {
    this.skipped.inc({ reason }, count);
  }

  fencedRejection(stage: FencedStage): void {
    this.fencedRejections.inc({ stage });
  }

  stalled(): void {
    this.stalls.inc();
  }

  /** Where the state gauges read the leadership, what executes by kind, and the cluster's records. */
  observeState(sources: Partial<StateSources>): void {
    this.state = { ...this.state, ...sources };
  }

  /** A failed read of the queue or per-kind statistics. */
  clusterReadFailed(): void {
    this.queueStatsErrors.inc();
  }

  /** Prometheus text of every metric of this registry. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
