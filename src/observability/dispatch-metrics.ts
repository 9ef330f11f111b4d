import { Counter, Gauge, type Registry } from 'prom-client';

/** Why a consumer dropped a message without executing it. */
export type DropReason = 'not-due' | 'malformed';

/** The dispatch mode's counts, as the status page shows them (this replica's, since it started). */
export interface DispatchCounts {
  mode: 'leader' | 'dispatch';
  published: number;
  republished: number;
  inFlight: number | undefined;
  consumed: number;
  redelivered: number;
  dropped: number;
  executed: number;
}

/**
 * Dispatch mode's metrics, in the replica's registry: the mode; on the leader, messages published (and of
 * them, republished after DISPATCH_REDELIVER_AFTER_MS) and in flight; on every replica, messages consumed,
 * redelivered by the broker, dropped (stale or duplicate), and executed here.
 */
export class DispatchMetrics {
  private readonly counts: DispatchCounts = {
    mode: 'leader',
    published: 0,
    republished: 0,
    inFlight: undefined,
    consumed: 0,
    redelivered: 0,
    dropped: 0,
    executed: 0,
  };
  private readonly modeGauge: Gauge<'mode'>;
  private readonly publishedTotal: Counter<'redispatch'>;
  private readonly inFlightGauge: Gauge;
  private readonly consumedTotal: Counter<'redelivered'>;
  private readonly droppedTotal: Counter<'reason'>;
  private readonly executedTotal: Counter;

  constructor(registers: Registry[]) {
    this.modeGauge = new Gauge({
      name: 'retry_worker_execution_mode',
      help: 'EXECUTION_MODE: 1 for the mode this replica runs in (leader or dispatch)',
      labelNames: ['mode'],
      registers,
    });
    this.publishedTotal = new Counter({
      name: 'retry_worker_dispatch_published_total',
      help: 'messages this replica published as leader (redispatch=true: after DISPATCH_REDELIVER_AFTER_MS)',
      labelNames: ['redispatch'],
      registers,
    });
    this.inFlightGauge = new Gauge({
      name: 'retry_worker_dispatch_in_flight',
      help: "messages published and not yet completed, as the leader last counted them (0 when it doesn't lead)",
      registers,
    });
    this.consumedTotal = new Counter({
      name: 'retry_worker_dispatch_consumed_total',
      help: 'messages this replica received (redelivered=true: the broker delivered it before, unacknowledged)',
      labelNames: ['redelivered'],
      registers,
    });
    this.droppedTotal = new Counter({
      name: 'retry_worker_dispatch_dropped_total',
      help: 'messages acknowledged without executing: not-due (stale or duplicate), malformed',
      labelNames: ['reason'],
      registers,
    });
    this.executedTotal = new Counter({
      name: 'retry_worker_dispatch_executed_total',
      help: 'messages whose record this replica executed and committed',
      registers,
    });
    this.setMode('leader');
  }

  setMode(mode: 'leader' | 'dispatch'): void {
    this.counts.mode = mode;
    this.modeGauge.labels('leader').set(mode === 'leader' ? 1 : 0);
    this.modeGauge.labels('dispatch').set(mode === 'dispatch' ? 1 : 0);
    if (mode === 'dispatch') {
      for (const redispatch of ['false', 'true']) this.publishedTotal.labels(redispatch).inc(0);
      for (const redelivered of ['false', 'true']) this.consumedTotal.labels(redelivered).inc(0);
      for (const reason of ['not-due', 'malformed']) this.droppedTotal.labels(reason).inc(0);
    }
  }

  published(redispatch: boolean): void {
    this.counts.published++;
    if (redispatch) this.counts.republished++;
    this.publishedTotal.inc({ redispatch: String(redispatch) });
  }

  inFlight(count: number | undefined): void {
    this.counts.inFlight = count;
    this.inFlightGauge.set(count ?? 0);
  }

  consumed(redelivered: boolean): void {
    this.counts.consumed++;
    if (redelivered) this.counts.redelivered++;
    this.consumedTotal.inc({ redelivered: String(redelivered) });
  }

  dropped(reason: DropReason): void {
    this.counts.dropped++;
    this.droppedTotal.inc({ reason });
  }

  executed(): void {
    this.counts.executed++;
    this.executedTotal.inc();
  }

  snapshot(): DispatchCounts {
    return { ...this.counts };
  }
}
