import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { insertRecords } from '../../src/db/insert-records.js';
import { prune } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { runCli } from '../support/run-cli.js';
import { withWorker } from '../support/worker.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db?.drop();
});

/** Records of `kind` in `status`, finished `daysAgo` days ago, each with one ledger row and one history row. */
async function finished(kind: string, status: string, daysAgo: number, n = 1): Promise<number[]> {
  const ids = await insertRecords(
    db.pool,
    Array.from({ length: n }, () => ({ kind, payload: {}, maxAttempts: null })),
  );
  await db.pool.query(
    `UPDATE failed_records SET status = $2, attempts = 1,
            finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() - $3 * interval '1 day' END,
            created_at = now() - ($3 + 1) * interval '1 day'
     WHERE id = ANY($1::bigint[])`,
    [ids, status, daysAgo],
  );
  await db.pool.query(
    `INSERT INTO retry_worker_attempts (record_id, record_uid, attempt, epoch, replica_id, outcome)
     SELECT id, uid, 1, 1, 'r1', CASE WHEN $2 = 'pending' THEN NULL ELSE 'failed' END
     FROM failed_records WHERE id = ANY($1::bigint[])`,
    [ids, status],
  );
  await db.pool.query(
    `INSERT INTO retry_worker_record_actions (record_uid, record_id, action, actor)
     SELECT uid, id, 'requeue', 'test' FROM failed_records WHERE id = ANY($1::bigint[])`,
    [ids],
  );
  return ids;
}

const left = async (kind: string) => {
  const { rows } = await db.pool.query<{ records: number; attempts: number; actions: number }>(
    `SELECT count(*)::int AS records,
            (SELECT count(*)::int FROM retry_worker_attempts a JOIN failed_records f ON f.uid = a.record_uid
              WHERE f.kind = $1) AS attempts,
            (SELECT count(*)::int FROM retry_worker_record_actions a JOIN failed_records f ON f.uid = a.record_uid
              WHERE f.kind = $1) AS actions
     FROM failed_records WHERE kind = $1`,
    [kind],
  );
  return rows[0]!;
};
const ledgerRows = async () => (await db.pool.query('SELECT count(*)::int AS n FROM retry_worker_attempts')).rows[0].n;

test('prune --older-than deletes old finished records with their ledger and history rows, in batches', async () => {
  const old = [
    ...(await finished('p-cli', 'succeeded', 40, 10)),
    ...(await finished('p-cli', 'dead', 40, 5)),
    ...(await finished('p-cli', 'discarded', 31, 3)),
    ...(await finished('p-cli', 'cancelled', 31, 2)),
  ];
  await finished('p-cli', 'dead', 10, 4); // too recent
  await finished('p-cli', 'pending', 400, 3); // never pruned
  const before = await ledgerRows();
  // 27 records, 7 looked at per statement: 4 statements.
  const run = await runCli(['prune', '--older-than', '30d', '--batch-size', '7', '--json'], { DATABASE_URL: db.url });
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { records: number; attempts: number; actions: number; batches: number };
  assert.deepEqual(result, { records: old.length, attempts: old.length, actions: old.length, batches: 4 });
  assert.deepEqual(await left('p-cli'), { records: 7, attempts: 7, actions: 7 });
  assert.equal(await ledgerRows(), before - old.length, 'the ledger rows went with their records');

  const text = await runCli(['prune', '--older-than', '5d', '--succeeded-older-than', '90d'], { DATABASE_URL: db.url });
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout, 'prune: deleted 4 finished records, 4 ledger rows and 4 history rows\n');
});

test('the library prune keeps succeeded records when only the finished age is given', async () => {
  await finished('p-lib', 'succeeded', 50, 2);
  await finished('p-lib', 'dead', 50, 2);
  const result = await prune(db.pool, { finishedOlderThanMs: 30 * 86_400_000, batchSize: 2, pauseMs: 0 });
  assert.equal(result.records, 2);
  assert.deepEqual(await left('p-lib'), { records: 2, attempts: 2, actions: 2 });
});

test('the leader prunes per RETAIN_SUCCEEDED_DAYS and RETAIN_FINISHED_DAYS while it leads', async () => {
  await finished('p-leader', 'succeeded', 8, 3);
  await finished('p-leader', 'succeeded', 3, 2);
  await finished('p-leader', 'dead', 20, 2);
  await finished('p-leader', 'dead', 8, 1);
  await withWorker(
    db,
    'retention-leader',
    {},
    async (run) => {
      const deadline = Date.now() + 15_000;
      while (!run.logs.some((l) => l.msg === 'retention: deleted finished records') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
    },
    { settings: { retainSucceededDays: 7, retainFinishedDays: 14 } },
  );
  assert.deepEqual(await left('p-leader'), { records: 3, attempts: 3, actions: 3 });
});
