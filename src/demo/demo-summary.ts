import { table } from '../status/format-status.js';
import type { SinkExecution } from './demo-sink.js';

export interface Overlaps {
  /**
   * Two executions of one record in progress at the same instant, at the downstream. `afterHangUp`: the first
   * one's caller had left (its execution timeout aborted the call) and the downstream worked on.
   */
  records: { key: string; a: SinkExecution; b: SinkExecution; afterHangUp: boolean }[];
  /** Executions of two terms (epochs) in progress at the same instant, at the downstream. */
  terms: { earlier: number; later: number; overlapMs: number; afterHangUp: boolean }[];
}

/** Checks the sink's own record of the requests it accepted (refused ones had no effect). */
export function findOverlaps(all: readonly SinkExecution[]): Overlaps {
  const accepted = all.filter((e) => !e.refused);
  const byRecord = new Map<string, SinkExecution[]>();
  for (const e of accepted) byRecord.set(e.key, [...(byRecord.get(e.key) ?? []), e]);
  const records: Overlaps['records'] = [];
  for (const [key, list] of byRecord) {
    const sorted = [...list].sort((x, y) => x.start - y.start);
    for (let i = 1; i < sorted.length; i++)
      if (sorted[i]!.start < sorted[i - 1]!.end) {
        const a = sorted[i - 1]!;
        records.push({
          key,
          a,
          b: sorted[i]!,
          afterHangUp: a.hungUpAt !== undefined && sorted[i]!.start >= a.hungUpAt,
        });
      }
  }
  // Each term's span at the downstream, and as its callers saw it (ending where they hung up).
  const spans = new Map<number, { start: number; end: number; callerEnd: number }>();
  for (const e of accepted) {
    const s = spans.get(e.epoch);
    const callerEnd = e.hungUpAt ?? e.end;
    spans.set(
      e.epoch,
      s
        ? {
            start: Math.min(s.start, e.start),
            end: Math.max(s.end, e.end),
            callerEnd: Math.max(s.callerEnd, callerEnd),
          }
        : { start: e.start, end: e.end, callerEnd },
    );
  }
  const epochs = [...spans.keys()].sort((a, b) => a - b);
  const terms: Overlaps['terms'] = [];
  for (let i = 1; i < epochs.length; i++) {
    const earlier = spans.get(epochs[i - 1]!)!;
    const later = spans.get(epochs[i]!)!;
    if (later.start < earlier.end) {
      const afterHangUp = later.start >= earlier.callerEnd;
      terms.push({ earlier: epochs[i - 1]!, later: epochs[i]!, overlapMs: earlier.end - later.start, afterHangUp });
    }
  }
  return { records, terms };
}

export interface ReplicaEpochRow {
  replicaId: string;
  epoch: number;
  executions: number;
  succeeded: number;
  failed: number;
  refused: number;
}

/** Executions per replica per epoch, in epoch order, from the sink's record. */
function executionsPerReplicaEpoch(all: readonly SinkExecution[]): ReplicaEpochRow[] {
  const rows = new Map<string, ReplicaEpochRow>();
  for (const e of all) {
    const key = `${e.epoch}\u0000${e.replicaId}`;
    const row = rows.get(key) ?? {
      replicaId: e.replicaId,
      epoch: e.epoch,
      executions: 0,
      succeeded: 0,
      failed: 0,
      refused: 0,
    };
    row.executions++;
    if (e.refused) row.refused++;
    else if (e.status < 300) row.succeeded++;
    else row.failed++;
    rows.set(key, row);
  }
  return [...rows.values()].sort((a, b) => a.epoch - b.epoch || a.replicaId.localeCompare(b.replicaId));
}

export interface Failover {
  killed: string;
  killedEpoch: number;
  killedAt: number;
  /** Undefined when no replica took over before the demo ended. */
  next?: { replicaId: string; epoch: number; ledAt: number; firstExecutionAt?: number };
}

export interface SummaryInput {
  backend: string;
  leaseTtlSeconds: number;
  records: Record<string, number>;
  executions: readonly SinkExecution[];
  failover: Failover | undefined;
  elapsedMs: number;
}

/** The table the demo ends with. */
export function renderSummary(input: SummaryInput): string {
  const overlaps = findOverlaps(input.executions);
  const total = Object.values(input.records).reduce((a, b) => a + b, 0);
  const out: string[] = ['', '==== Summary ====', ''];
  out.push(`records per final state (${total} inserted):`);
  out.push(
    table(
      ['state', 'records'],
      Object.entries(input.records).map(([k, v]) => [k, String(v)]),
    ),
  );
  out.push('');
  out.push(`executions per replica per epoch (${input.executions.length} requests, from the sink's own record):`);
  out.push(
    table(
      ['epoch', 'replica', 'executions', '2xx', 'failed', 'refused (stale token)'],
      executionsPerReplicaEpoch(input.executions).map((r) => [
        String(r.epoch),
        r.replicaId,
        String(r.executions),
        String(r.succeeded),
        String(r.failed),
        String(r.refused),
      ]),
    ),
  );
  out.push('');
  out.push(
    `overlaps found: ${overlaps.records.length} (one record executed twice at once)` +
      `, ${overlaps.terms.length} (two epochs executing at once)`,
  );
  for (const o of overlaps.records.slice(0, 5))
    out.push(`  record ${o.key}: ${o.a.replicaId}/epoch ${o.a.epoch} and ${o.b.replicaId}/epoch ${o.b.epoch}`);
  for (const o of overlaps.terms.slice(0, 5))
    out.push(`  epochs ${o.earlier} and ${o.later} overlapped by ${o.overlapMs.toFixed(1)} ms`);
  const f = input.failover;
  if (!f) out.push('failover: the leader was not killed (the records settled first)');
  else if (!f.next)
    out.push(
      `failover: ${f.killed} (epoch ${f.killedEpoch}) was killed with SIGKILL` +
        `; no replica took over before the demo ended`,
    );
  else {
    const led = ((f.next.ledAt - f.killedAt) / 1000).toFixed(2);
    const first =
      f.next.firstExecutionAt !== undefined
        ? `, first execution after ${((f.next.firstExecutionAt - f.killedAt) / 1000).toFixed(2)} s`
        : '';
    out.push(
      `failover time: ${led} s from kill -9 of ${f.killed} (epoch ${f.killedEpoch})` +
        ` until ${f.next.replicaId} led epoch ${f.next.epoch}${first}` +
        ` (lease TTL ${input.leaseTtlSeconds} s, backend ${input.backend})`,
    );
  }
  out.push(`total: ${(input.elapsedMs / 1000).toFixed(1)} s`);
  return `${out.join('\n')}\n`;
}
