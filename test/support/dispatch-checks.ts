import assert from 'node:assert/strict';
import { SETTINGS } from '../../src/settings.js';
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

/**
 * Every record's ledger agrees with its row: one ledger row per counted attempt (a died attempt's row has no
 * outcome, and still counts).
 */
export async function assertLedgerConsistent(cluster: TestCluster): Promise<void> {
  const { rows } = await cluster.pool.query<{ id: number; attempts: number; ledger: number }>(
    `SELECT f.id, f.attempts, count(a.*)::int AS ledger
     FROM failed_records f LEFT JOIN failed_record_attempts a ON a.record_uid = f.uid
     GROUP BY f.id, f.attempts`,
  );
  for (const r of rows) {
    assert.equal(r.ledger, r.attempts, `record ${r.id}: ${r.ledger} ledger rows for ${r.attempts} attempts`);
  }
}

/**
 * Every record is final, with the status and the number of attempts its behaviour asks, at most its
 * max_attempts (NULL: DEFAULT_MAX_ATTEMPTS's default), and every attempt reached the sink once.
 */
export async function assertOutcomes(
  cluster: TestCluster,
  expected: readonly { ids: readonly number[]; status: string; attempts: number }[],
): Promise<void> {
  const { rows } = await cluster.pool.query<{ id: number; status: string; attempts: number; max: number }>(
    'SELECT id, status, attempts, coalesce(max_attempts, $1) AS max FROM failed_records',
    [SETTINGS.defaultMaxAttempts.default],
  );
  assert.equal(
    rows.length,
    expected.reduce((n, e) => n + e.ids.length, 0),
    'every record is there',
  );
  for (const r of rows) assert.ok(r.attempts <= r.max, `record ${r.id}: ${r.attempts} attempts of ${r.max}`);
  const byId = new Map(rows.map((r) => [r.id, { status: r.status, attempts: r.attempts }]));
  for (const { ids, status, attempts } of expected)
    for (const id of ids) assert.deepEqual(byId.get(id), { status, attempts }, `record ${id}`);
  const attempts = rows.reduce((n, r) => n + r.attempts, 0);
  assert.equal(cluster.sink.executions.length, attempts, 'every attempt reached the sink once');
}
