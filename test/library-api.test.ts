import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createWorker, type FailedRecord, PermanentFailure } from '../src/index.js';
import { startEtcd } from './support/etcd.js';
import { waitFor } from './support/ports.js';
import { createTestDatabase } from './support/postgres.js';

test('a worker embedded with createWorker runs handlers passed in, and stop() is safe twice', async (t) => {
  const [etcd, db] = await Promise.all([startEtcd(1), createTestDatabase()]);
  t.after(async () => {
    await etcd.stop();
    await db.drop();
  });
  const seen: FailedRecord[] = [];
  const idle = createWorker({
    config: { databaseUrl: db.url, etcdEndpoints: etcd.endpoints, leaseTtlSeconds: 2 },
    logger: pino({ level: 'silent' }),
  });
  await idle.stop(); // before start: a no-op
  assert.equal(idle.config.execution.concurrency, 10, 'defaults fill what is not given');

  const embedded = createWorker({
    config: { databaseUrl: db.url, etcdEndpoints: etcd.endpoints, leaseTtlSeconds: 2, pollIntervalMs: 100 },
    handlers: {
      greet: async (record) => void seen.push(record),
      reject: async () => {
        throw new PermanentFailure('not today');
      },
    },
    logger: pino({ level: 'silent' }),
  });
  await embedded.start();
  await db.pool.query(
    `INSERT INTO failed_records (kind, payload) VALUES ('greet', '{"name": "ada"}'), ('reject', '{}')`,
  );
  await waitFor('both records settled', async () => {
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM failed_records WHERE status <> 'pending'`,
    );
    return rows[0]!.n === 2 || undefined;
  });
  await embedded.stop();
  await embedded.stop();
  const { rows } = await db.pool.query<{ kind: string; status: string; last_error: string | null }>(
    'SELECT kind, status, last_error FROM failed_records ORDER BY id',
  );
  assert.deepEqual(rows, [
    { kind: 'greet', status: 'succeeded', last_error: null },
    { kind: 'reject', status: 'dead', last_error: 'not today' },
  ]);
  assert.deepEqual(
    seen.map((r) => ({ kind: r.kind, payload: r.payload, attempt: r.attempt })),
    [{ kind: 'greet', payload: { name: 'ada' }, attempt: 1 }],
  );
});

test('createWorker rejects a bad setting with an error naming it', () => {
  assert.throws(
    () => createWorker({ config: { databaseUrl: 'mysql://x' } }),
    /DATABASE_URL: got "mysql:\/\/x"; expected a URL starting with postgres:\/\//,
  );
  assert.throws(() => createWorker({ config: { databaseUrl: 'postgres://x@h/db', concurrency: 0 } }), /CONCURRENCY/);
});
