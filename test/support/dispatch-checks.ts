import assert from 'node:assert/strict';
import type { TestCluster } from './cluster.js';
import { waitFor } from './ports.js';
import type { LogLine, Replica } from './replica.js';
import { checkEvidence } from './sink.js';

export const isDispatching = (l: LogLine) => l.msg === 'leading: this replica now dispatches failed records';

/** The live replica that logged, at or after `notBefore`, that it dispatches. */
export function waitForDispatcher(replicas: readonly Replica[], notBefore = 0): Promise<Replica> {
  return waitFor('a replica to dispatch', () =>
    replicas.find((r) => r.alive && r.logs.some((l) => isDispatching(l) && l.time >= notBefore)),
  );
}

/** The sink saw no two executions of one record at once, no two terms at once, no stale fencing token. */
export function assertSafe(cluster: TestCluster): void {
  const evidence = checkEvidence(cluster.sink.executions);
  assert.deepEqual(evidence.overlaps, [], 'two executions of one record overlapped');
  assert.deepEqual(evidence.termOverlaps, [], 'executions under two epochs overlapped');
  assert.deepEqual(
    cluster.sink.executions.filter((e) => e.refused),
    [],
    'a fencing token reached the sink out of order',
  );
}

/** Every record's ledger agrees with its row: one ledger row per counted attempt, each with an outcome. */
export async function assertLedgerConsistent(cluster: TestCluster): Promise<void> {
  const { rows } = await cluster.pool.query<{ id: number; attempts: number; ledger: number; open: number }>(
    `SELECT f.id, f.attempts, count(a.*)::int AS ledger, count(a.*) FILTER (WHERE a.outcome IS NULL)::int AS open
     FROM failed_records f LEFT JOIN failed_record_attempts a ON a.record_uid = f.uid
     GROUP BY f.id, f.attempts`,
  );
  for (const r of rows) {
    assert.equal(r.ledger, r.attempts, `record ${r.id}: ${r.ledger} ledger rows for ${r.attempts} attempts`);
  }
}
