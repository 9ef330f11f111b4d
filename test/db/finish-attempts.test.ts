import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type FinishedAttempt, finishAttempts } from '../../src/db/finish-attempts.js';
import { LEADER_SESSION, type PlanNode, planOf } from '../support/plan.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

async function startAttempts(count: number): Promise<number[]> {
  const { rows } = await db.pool.query<{ id: number }>(
    `WITH r AS (INSERT INTO failed_records (kind) SELECT 'noop' FROM generate_series(1, $1::int) RETURNING id)
     INSERT INTO failed_record_attempts (record_id, attempt, epoch, replica_id)
     SELECT id, 1, 1, 'r1' FROM r RETURNING id`,
    [count],
  );
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

const succeeded = (ledgerId: number): FinishedAttempt => ({
  ledgerId,
  outcome: 'succeeded',
  error: null,
  finishedAt: Date.now(),
});

test('finishAttempts writes each outcome once and never overwrites a recorded one', async () => {
  const [a, b, c] = await startAttempts(3);
  await finishAttempts(db.pool, [{ ledgerId: b!, outcome: 'failed', error: 'boom', finishedAt: Date.UTC(2026, 0, 2) }]);
  await finishAttempts(db.pool, [
    succeeded(a!),
    succeeded(b!),
    { ledgerId: c!, outcome: 'dead', error: 'no', finishedAt: Date.now() },
  ]);
  const { rows } = await db.pool.query<{ id: number; outcome: string; error: string | null; finished: string }>(
    `SELECT id, outcome, error, to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS finished` +
      ` FROM failed_record_attempts WHERE id = ANY($1) ORDER BY id`,
    [[a, b, c]],
  );
  assert.deepEqual(
    rows.map((r) => [r.id, r.outcome, r.error]),
    [
      [a, 'succeeded', null],
      [b, 'failed', 'boom'],
      [c, 'dead', 'no'],
    ],
  );
  assert.equal(rows[1]!.finished, '2026-01-02', 'the first outcome, with its time, stays');
});

test(
  'on an analyzed ledger of finished attempts, finishing 500 new ones' +
    ' reads each value once and does not scan the ledger',
  async () => {
    // The shape that went wrong: statistics saying no attempt lacks an outcome (30,000 finished), then 500 in flight.
    const old = await startAttempts(30_000);
    for (let i = 0; i < old.length; i += 5_000) await finishAttempts(db.pool, old.slice(i, i + 5_000).map(succeeded));
    await db.pool.query('ANALYZE retry_worker_attempts');
    const fresh = await startAttempts(500);

    const { nodes, described } = await planOf(db.pool, (recorder) => finishAttempts(recorder, fresh.map(succeeded)));
    const scanned = nodes.filter(
      (n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'retry_worker_attempts',
    );
    assert.deepEqual(scanned, [], `the whole ledger was scanned: ${described}`);
    for (const n of nodes.filter((n) => n['Node Type'] === 'Function Scan'))
      assert.equal(n['Actual Loops'], 1, `the values were read more than once: ${described}`);

    await finishAttempts(db.pool, fresh.map(succeeded));
    const { rows: done } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM failed_record_attempts WHERE id = ANY($1) AND outcome = 'succeeded'`,
      [fresh],
    );
    assert.equal(done[0]!.n, 500);
  },
);

test(
  'a replica of the previous release, writing outcomes through failed_record_attempts' + ', still records them',
  async () => {
    const [a] = await startAttempts(1);
    // The statement of the release before the ledger moved to retry_worker_attempts, as such a replica sends it
    // during a rolling upgrade.
    await db.pool.query(
      `UPDATE failed_record_attempts AS a
     SET outcome = u.outcome, error = u.error, finished_at = to_timestamp(u.finished_ms / 1000.0)
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[]) AS u(id, outcome, error, finished_ms)
     WHERE a.id = u.id AND a.id BETWEEN $5 AND $6 AND coalesce(a.outcome, '') = ''`,
      [[a], ['failed'], ['boom'], [Date.UTC(2026, 0, 3)], a, a],
    );
    const { rows } = await db.pool.query<{ outcome: string; error: string; finished: string }>(
      `SELECT outcome, error, to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS finished` +
        ` FROM retry_worker_attempts WHERE id = $1`,
      [a],
    );
    assert.deepEqual(rows, [{ outcome: 'failed', error: 'boom', finished: '2026-01-03' }]);
  },
);

test(
  'a replica of the previous release records attempts through failed_record_attempts' + ', and reconciles by it',
  async () => {
    const { rows: records } = await db.pool.query<{ id: number }>(
      `INSERT INTO failed_records (kind) VALUES ('noop'), ('noop') RETURNING id`,
    );
    const [fresh, recovered] = records.map((r) => r.id) as [number, number];
    // recovered: its attempt 1 succeeded but the claim rolled back; the ledger knows, the row does not.
    await db.pool.query(
      `INSERT INTO retry_worker_attempts (record_id, attempt, epoch, replica_id, outcome)` +
        ` VALUES ($1, 1, 1, 'r0', 'succeeded')`,
      [recovered],
    );
    // The ledger insert of the release before the ledger moved to retry_worker_attempts, verbatim.
    const { rows } = await db.pool.query<{
      recordId: number;
      settled: number;
      lastOutcome: string | null;
      ledgerId: number | null;
      attempt: number | null;
    }>(
      `WITH claimed AS (
       SELECT * FROM unnest($1::bigint[], $2::int[], $3::int[]) AS c(record_id, attempts, max_attempts)
     ), prior AS (
       SELECT c.record_id, c.max_attempts,
              greatest(c.attempts, coalesce(l.attempt, 0)) AS settled,
              l.outcome AS last_outcome, l.error AS last_error
       FROM claimed c
       LEFT JOIN LATERAL (
         SELECT a.attempt, a.outcome, a.error
         FROM failed_record_attempts a
         WHERE a.record_id = c.record_id AND a.attempt > c.attempts AND a.outcome IS DISTINCT FROM 'skipped'
         ORDER BY a.attempt DESC, a.id DESC
         LIMIT 1
       ) l ON true
     ), started AS (
       INSERT INTO failed_record_attempts (record_id, attempt, epoch, replica_id)
       SELECT record_id, settled + 1, $4, $5
       FROM prior
       WHERE last_outcome IS DISTINCT FROM 'succeeded' AND last_outcome IS DISTINCT FROM 'dead'
         AND settled < max_attempts
       RETURNING id, record_id, attempt
     )
     SELECT p.record_id AS "recordId", p.settled, p.last_outcome AS "lastOutcome", p.last_error AS "lastError",
            s.id AS "ledgerId", s.attempt
     FROM prior p LEFT JOIN started s ON s.record_id = p.record_id
     ORDER BY p.record_id`,
      [`{${fresh},${recovered}}`, '{0,0}', '{5,5}', 2, 'old-replica'],
    );
    assert.deepEqual(
      rows.map((r) => [r.recordId, r.settled, r.lastOutcome, r.ledgerId !== null, r.attempt]),
      [
        [fresh, 0, null, true, 1],
        [recovered, 1, 'succeeded', false, null],
      ],
    );
    const { rows: written } = await db.pool.query<{ replica: string }>(
      `SELECT replica_id AS replica FROM retry_worker_attempts WHERE record_id = $1`,
      [fresh],
    );
    assert.deepEqual(written, [{ replica: 'old-replica' }]);
  },
);

test('only an outcome can be written through failed_record_attempts', async () => {
  const [a] = await startAttempts(1);
  await assert.rejects(
    db.pool.query(`UPDATE failed_record_attempts SET epoch = 99 WHERE id = $1`, [a]),
    /only outcome, error and finished_at/,
  );
  const { rows } = await db.pool.query<{ epoch: number }>('SELECT epoch FROM retry_worker_attempts WHERE id = $1', [a]);
  assert.deepEqual(rows, [{ epoch: 1 }]);
});

test('the outcome statement, planned once for any number of rows (its generic plan), goes by key for 500', async () => {
  // Statistics of an empty ledger (a new deployment), 2,000 attempts since.
  await db.pool.query('TRUNCATE retry_worker_attempts');
  await db.pool.query('ANALYZE retry_worker_attempts');
  const ids = await startAttempts(2_000);
  const client = await db.pool.connect();
  try {
    for (const [name, value] of Object.entries(LEADER_SESSION))
      await client.query('SELECT set_config($1, $2, false)', [name, String(value)]);
    await client.query('SET plan_cache_mode = force_generic_plan');
    await finishAttempts(client, ids.slice(0, 2).map(succeeded));
    await client.query('BEGIN');
    const fresh = ids.slice(1_000, 1_500);
    const { rows } = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE "retry-worker-finish-attempts"
         ('{${fresh.join(',')}}', '{${fresh.map(() => 'succeeded').join(',')}}',
          '{${fresh.map(() => 'NULL').join(',')}}', '{${fresh.map(() => Date.now()).join(',')}}')`,
    );
    await client.query('ROLLBACK');
    const flatten = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(flatten)];
    const nodes = flatten(rows[0]!['QUERY PLAN'][0]!.Plan);
    const described = nodes.map((n) => `${n['Node Type']} x${n['Actual Loops']}`).join(', ');
    const byKey = nodes.filter(
      (n) => n['Node Type'] === 'Index Scan' && n['Relation Name'] === 'retry_worker_attempts',
    );
    assert.deepEqual(
      byKey.map((n) => n['Actual Loops']),
      [500],
      `not one index probe per attempt: ${described}`,
    );
    const wide = nodes.filter((n) => /Seq Scan|Bitmap|Hash|Merge/.test(n['Node Type']));
    assert.deepEqual(wide, [], `read more than the attempts finished: ${described}`);
    for (const n of nodes.filter((n) => n['Node Type'] === 'Function Scan'))
      assert.equal(n['Actual Loops'], 1, `the values were read more than once: ${described}`);
  } finally {
    client.release(true);
  }
});
