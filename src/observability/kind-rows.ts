import type { KindStats } from '../db/kind-stats.js';
import { describeLimits, type KindRegistry } from '../executor/kinds.js';
import type { KindRow } from './status-page.js';

/** The page's per-kind table: the database's counts, what runs here now, and each kind's limits. */
export function kindRows(
  stats: readonly KindStats[],
  executing: ReadonlyMap<string, number>,
  kinds: KindRegistry,
): KindRow[] {
  const names = new Set([...stats.map((k) => k.kind), ...executing.keys()]);
  const byKind = new Map(stats.map((k) => [k.kind, k]));
  return [...names].sort().map((kind) => {
    const k = byKind.get(kind);
    const registered = kinds.get(kind);
    return {
      kind,
      due: k?.due ?? 0,
      backoff: k?.backoff ?? 0,
      executing: executing.get(kind) ?? 0,
      succeededLastHour: k?.succeededLastHour ?? 0,
      deadLastHour: k?.deadLastHour ?? 0,
      paused: k?.paused ? { by: k.paused.by, reason: k.paused.reason, at: k.paused.at.toISOString() } : null,
      limits: registered ? describeLimits(registered) : 'no handler here',
    };
  });
}
