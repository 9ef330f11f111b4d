import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { createWorker } from '../src/index.js';
import { startEtcd } from './support/etcd.js';
import { createTestDatabase } from './support/postgres.js';
import { waitFor } from './support/ports.js';

test('a term won while the schema check is pending executes nothing; a failed check gives it back', async (t) => {
  const [etcd, db] = await Promise.all([startEtcd(1), createTestDatabase()]);
  const client = new Etcd3({ hosts: etcd.endpoints });
  t.after(async () => {
    client.close();
    await etcd.stop();
    await db.drop();
  });
  await db.pool.query(`INSERT INTO failed_records (kind) VALUES ('work')`);
  // The schema check blocks on this lock until the test commits, and then finds the last migration missing.
  const blocker = await db.pool.connect();
  await blocker.query('BEGIN');
  await blocker.query('DELETE FROM retry_worker_migrations WHERE version = (SELECT max(version) FROM retry_worker_migrations)');
  await blocker.query('LOCK TABLE retry_worker_migrations IN ACCESS EXCLUSIVE MODE');
  let ran = 0;
  const worker = createWorker({
    config: { databaseUrl: db.url, etcdEndpoints: etcd.endpoints, electionName: 'startup', leaseTtlSeconds: 5 },
    handlers: { work: async () => void ran++ },
    logger: pino({ level: 'silent' }),
  });
  const started = worker.start();
  started.catch(() => undefined);
  try {
    const leaderKey = 'retry-worker/startup/leader';
    await waitFor('the replica to win the election', async () => (await client.get(leaderKey).string()) ?? undefined);
    await blocker.query('COMMIT');
    await assert.rejects(started, /not migrated .*run `retry-worker migrate` first/);
    assert.equal(await client.get(leaderKey).string(), null, 'the term was given back, not left to expire');
  } finally {
    await blocker.query('ROLLBACK').catch(() => undefined);
    blocker.release();
    await worker.stop();
  }
  assert.equal(ran, 0);
  const { rows } = await db.pool.query<{ status: string; attempts: number; ledger: number }>(
    `SELECT status, attempts, (SELECT count(*)::int FROM failed_record_attempts) AS ledger FROM failed_records`,
  );
  assert.deepEqual(rows, [{ status: 'pending', attempts: 0, ledger: 0 }]);
});
