import { isExecution, type LogLine } from '../support/replica.js';
import type { Execution } from '../support/sink.js';
import type { LoopStall } from './loop-watch.js';

/** A request the sink stamped after a newer term than its own had been fenced in Postgres. */
export interface StaleStart {
  execution: Execution;
  /** The newer term: its epoch, and its `started_at` (wall-clock ms). */
  newer: { epoch: number; started: number };
}

export interface StaleSources {
  /** Every request the sink received; times in wall-clock ms, as below. */
  all: readonly Execution[];
  /** Record uid → id (the replicas' log lines name records by id). */
  ids: ReadonlyMap<string, number>;
  /** `${uid}/${attempt}` → when its ledger row was written (just before the start). */
  ledgerStarts: ReadonlyMap<string, number>;
  /** Every replica process's log lines, with its id. */
  logs: readonly { id: string; lines: readonly LogLine[] }[];
  /** This process's event-loop stalls: the sink stamps late across them. */
  stalls: readonly LoopStall[];
}

/**
 * What else says when each stale-term request started, beside the sink's stamp: the replica's own log line of
 * the execution (its `startedAt`), the ledger row written just before it, the newer term's first request at the
 * sink, and the stalls of this process's event loop, on which the sink stamps each request as its handler runs.
 *
 * A request counts as stamped late, not as a stale start, only when both independent sources place it before the
 * fence: this process's loop was measured stalled across the fence and its stamp falls in the backlog that stall
 * left (before the loop was on time again), and the replica's own log line gives a start before the fence. Anything
 * less stays a violation. (A replica takes `startedAt` before its last safety checks, so the log line alone would
 * not do: a pause between the two would log the earlier instant.)
 */
export function staleEvidence(
  stale: readonly StaleStart[],
  sources: StaleSources,
): {
  notes: string[];
  stampedLate: Set<Execution>;
} {
  const notes: string[] = [];
  const stampedLate = new Set<Execution>();
  const starts = replicaStarts(sources.logs);
  const groups = new Map<string, StaleStart[]>();
  for (const s of stale) {
    const key = `${s.execution.replicaId}/${s.execution.epoch}/${s.newer.epoch}`;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  for (const group of groups.values()) {
    const { replicaId, epoch } = group[0]!.execution;
    const { epoch: newerEpoch, started: fenceAt } = group[0]!.newer;
    const rel = (t: number) => `${t >= fenceAt ? '+' : ''}${Math.round(t - fenceAt)}`;
    const range = (ts: readonly number[]) =>
      ts.length === 0 ? 'none' : `${rel(Math.min(...ts))} to ${rel(Math.max(...ts))} ms`;
    const stamps = group.map((s) => s.execution.start);
    const firstNewer = sources.all
      .filter((e) => e.epoch >= newerEpoch)
      .reduce((m, e) => Math.min(m, e.start), Number.POSITIVE_INFINITY);
    const own = group.map(({ execution: e }) =>
      starts.get(startKey(replicaId, epoch, sources.ids.get(e.key), e.attempt)),
    );
    const ownKnown = own.filter((t): t is number => t !== undefined);
    const ledger = group
      .map((s) => sources.ledgerStarts.get(`${s.execution.key}/${s.execution.attempt}`))
      .filter((t): t is number => t !== undefined);
    const stalls = sources.stalls.filter((st) => st.to >= fenceAt - 1000 && st.from <= Math.max(...stamps));
    const across = stalls.filter((st) => st.from < fenceAt && st.to > fenceAt);
    let late = 0;
    group.forEach((s, i) => {
      const t = own[i];
      const inBacklog = across.some((st) => s.execution.start <= (st.calmAt ?? st.to));
      if (!inBacklog || t === undefined || t >= fenceAt) return;
      stampedLate.add(s.execution);
      late++;
    });
    notes.push(
      `${group.length} request(s) of ${replicaId} (epoch ${epoch}) stamped by the sink ${range(stamps)} after epoch ` +
        `${newerEpoch}'s fence; epoch ${newerEpoch}'s first request at the sink: ` +
        `${Number.isFinite(firstNewer) ? `${rel(firstNewer)} ms` : 'none'}; the replica's own log gives their ` +
        `starts at ${range(ownKnown)} (${ownKnown.length} found, ${ownKnown.filter((t) => t > fenceAt).length} ` +
        `after the fence); their ledger rows were written at ${range(ledger)}; this process's event loop stalled ` +
        (stalls.length === 0
          ? 'never then'
          : stalls.map((st) => `${Math.round(st.to - st.from)} ms from ${rel(st.from)} ms`).join(', ')) +
        (across.length > 0 ? ` (across the fence: ${late} stamped late)` : ''),
    );
  }
  return { notes, stampedLate };
}

const startKey = (replicaId: string, epoch: number, recordId: number | undefined, attempt: number) =>
  `${replicaId}/${epoch}/${recordId}/${attempt}`;

/**
 * Each execution's start as its replica logged it (on the line written when it ends), keyed as startKey; a key
 * logged twice gets no start (it proves nothing).
 */
function replicaStarts(logs: StaleSources['logs']): Map<string, number | undefined> {
  const starts = new Map<string, number | undefined>();
  for (const { id, lines } of logs)
    for (const l of lines.filter(isExecution)) {
      const key = startKey(id, Number(l.epoch), l.recordId, Number(l.attempt));
      starts.set(key, starts.has(key) ? undefined : Number(l.startedAt));
    }
  return starts;
}
