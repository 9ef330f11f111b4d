import { Gauge, type Registry } from 'prom-client';
import { RECORD_STATUSES } from '../db/queue-stats.js';
import type { Term } from '../election/term.js';
import type { ClusterReads } from './cluster-reads.js';

/** What the state gauges read when scraped. */
export interface StateSources {
  /** The term this replica executes now (the leadership gate's answer). */
  leadership: () => Term | undefined;
  /** Executions running on this replica now, by kind. */
  executingByKind: () => ReadonlyMap<string, number>;
  /** The database's view (set by the HTTP server, which owns the pool it reads with). */
  cluster: ClusterReads | undefined;
}

/** Gauges computed at scrape time from `sources()`: leadership, the queue, and each kind's records. */
export function registerStateGauges(registers: Registry[], sources: () => StateSources): void {
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void | Promise<void>) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        return collect(this);
      },
    });
  gauge('retry_worker_leader', '1 while this replica executes a term, else 0', [], (g) => {
    g.set(sources().leadership() ? 1 : 0);
  });
  gauge('retry_worker_epoch', 'epoch of the term this replica executes (0 while it does not lead)', [], (g) => {
    g.set(sources().leadership()?.epoch ?? 0);
  });
  gauge('retry_worker_safe_until_remaining_ms', "ms left before this leader's lease may have expired", [], (g) => {
    const term = sources().leadership();
    g.set(term && !term.signal.aborted ? Math.max(0, Math.round(term.remainingMs())) : 0);
  });
  gauge('retry_worker_queue_records', 'rows of failed_records by status', ['status'], async (g) => {
    const queue = await sources().cluster?.queue.get();
    for (const status of RECORD_STATUSES) if (queue) g.set({ status }, queue.records[status] ?? 0);
  });
  gauge('retry_worker_queue_due_records', 'pending rows whose next_run_at has come', [], async (g) => {
    g.set((await sources().cluster?.queue.get())?.due ?? 0);
  });
  gauge('retry_worker_queue_oldest_due_age_seconds', 'how long the oldest due row has waited', [], async (g) => {
    g.set((await sources().cluster?.queue.get())?.oldestDueAgeSeconds ?? 0);
  });
  const perKind = (
    name: string,
    help: string,
    value: (k: { due: number; backoff: number; paused: unknown }) => number,
  ) =>
    gauge(name, help, ['kind'], async (g) => {
      g.reset();
      for (const k of (await sources().cluster?.kinds.get()) ?? []) g.set({ kind: k.kind }, value(k));
    });
  perKind('retry_worker_kind_due_records', 'pending rows of each kind whose next_run_at has come', (k) => k.due);
  perKind('retry_worker_kind_backoff_records', 'pending rows of each kind not yet due', (k) => k.backoff);
  perKind('retry_worker_kind_paused', '1 for a paused kind (its records are not claimed)', (k) => (k.paused ? 1 : 0));
  gauge('retry_worker_kind_executing', 'executions running on this replica now, by kind', ['kind'], (g) => {
    g.reset();
    for (const [kind, n] of sources().executingByKind()) g.set({ kind }, n);
  });
}
