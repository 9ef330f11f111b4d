import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Completion, completeAndCommit } from '../../src/db/complete-records.js';
import { planOf } from '../support/plan.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

async function insert(count: number): Promise<number[]> {
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO failed_records (kind) SELECT 'noop' FROM generate_series(1, $1::int) RETURNING id`,
    [count],
  );
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

const done = (id: number): Completion => ({ id, status: 'succeeded', attempts: 1, delayMs: 0, lastError: null });

test('completeAndCommit changes only pending rows, commits, and says how many it changed', async () => {
  const [a, b, c] = await insert(3);
  await db.pool.query(`UPDATE failed_records SET status = 'dead' WHERE id = $1`, [b]);
  const client = await db.pool.connect();
  await client.query('BEGIN');
  const changed = await completeAndCommit(client, [
    done(a!),
    done(b!),
    { id: c!, status: 'pending', attempts: 1, delayMs: 60_000, lastError: 'boom' },
  ]).finally(() => client.release());
  assert.equal(changed, 2);
  // Read on another connection: only committed changes are seen.
  const { rows } = await db.pool.query<{ id: number; status: string; last_error: string | null; later: boolean }>(
    `SELECT id, status, last_error, next_run_at > now() + interval '50 seconds' AS later` +
      ` FROM failed_records WHERE id = ANY($1) ORDER BY id`,
    [[a, b, c]],
  );
  assert.deepEqual(
    rows.map((r) => [r.status, r.last_error, r.later]),
    [
      ['succeeded', null, false],
      ['dead', null, false],
      ['pending', 'boom', true],
    ],
  );
});

test(
  'completing a batch of 500 on an analyzed table of 30,000 pending records' +
    ' finds them by key, not by scanning the table',
  async () => {
    const ids = await insert(30_000);
    await db.pool.query('ANALYZE failed_records');
    const batch = ids.slice(10_000, 10_500);
    const { nodes, described, prepared } = await planOf(db.pool, (recorder) =>
      completeAndCommit(recorder, batch.map(done)),
    );
    assert.equal(prepared, false, 'a prepared statement is run with a generic plan, which cannot see the id range');
    const scanned = nodes.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'failed_records');
    assert.deepEqual(scanned, [], `the whole table was scanned: ${described}`);
  },
);

test("a group's completion (dispatch mode) is prepared: planned once per connection, generically, by key", async () => {
  const ids = await insert(2_000);
  await db.pool.query('ANALYZE failed_records');
  const client = await db.pool.connect();
  try {
    // The dispatch consumer's pool forces generic plans (src/dispatch/dispatch-mode.ts).
    await client.query('SET plan_cache_mode = force_generic_plan');
    for (const id of ids.slice(0, 3)) {
      await client.query('BEGIN');
      assert.equal(await completeAndCommit(client, [done(id), done(id + 1_000)]), 2);
    }
    const { rows } = await client.query<{ generic_plans: number; custom_plans: number }>(
      `SELECT generic_plans::int, custom_plans::int FROM pg_prepared_statements WHERE name = $1`,
      ['retry_worker_complete_records'],
    );
    assert.equal(rows.length, 1, 'the statement is not a prepared one');
    assert.ok(rows[0]!.generic_plans >= 2, `planned for its values each time: ${JSON.stringify(rows[0])}`);
    const plan = await client.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN EXECUTE retry_worker_complete_records('{${ids[5]}}', '{succeeded}', '{1}', '{0}', '{NULL}')`,
    );
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    assert.doesNotMatch(text, /Seq Scan on failed_records/, text);
  } finally {
    client.release(true);
  }
});

test(
  'completing a batch of 500 on a table last analyzed while empty, 30,000 records since, still goes by key' +
    ' (not a hash join over every pending row)',
  async () => {
    // A new deployment: the tables are analyzed empty, then a burst of records arrives before autovacuum
    // analyzes them again; the planner takes the table for a few rows.
    await db.pool.query('TRUNCATE failed_records CASCADE');
    await db.pool.query('ANALYZE failed_records');
    const ids = await insert(30_000);
    const { nodes, described } = await planOf(db.pool, (recorder) =>
      completeAndCommit(recorder, ids.slice(10_000, 10_500).map(done)),
    );
    const byKey = nodes.filter((n) => n['Node Type'] === 'Index Scan' && n['Relation Name'] === 'failed_records');
    assert.deepEqual(
      byKey.map((n) => n['Actual Loops']),
      [500],
      `not one index probe per completed record: ${described}`,
    );
    const wide = nodes.filter((n) => /Seq Scan|Bitmap|Hash|Merge/.test(n['Node Type']));
    assert.deepEqual(wide, [], `read more than the batch's rows: ${described}`);
  },
);
