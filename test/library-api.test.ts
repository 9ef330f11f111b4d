import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createWorker, type FailedRecord, PermanentFailure } from '../src/index.js';
import { startEtcd } from './support/etcd.js';
import { LoopbackServer } from './support/http-target.js';
import { waitFor } from './support/ports.js';
import { createTestDatabase } from './support/postgres.js';
import { withWorker } from './support/worker.js';

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

test("the worker's http handler takes HTTP_HANDLER_* from its config; last_error shows no secret", async (t) => {
  const [db, downstream] = await Promise.all([createTestDatabase(), new LoopbackServer().start()]);
  t.after(async () => {
    await downstream.stop();
    await db.drop();
  });
  downstream.reset((_req, res) => res.writeHead(404).end('no such hook'));
  const settings = { httpHandlerAllowHosts: '10.0.0.0/8,127.0.0.1', httpHandlerMaxResponseBytes: 4 };
  await withWorker(
    db,
    'http-settings',
    {},
    async () => {
      await db.pool.query(`INSERT INTO failed_records (kind, payload) VALUES ('http', $1), ('http', $2)`, [
        { url: `http://u:s3cret@127.0.0.1:${downstream.port}/hook?token=s3cret` },
        { url: `http://127.0.0.2:${downstream.port}/refused` },
      ]);
      await waitFor('both records dead', async () => {
        const { rows } = await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM failed_records WHERE status = 'dead'`,
        );
        return rows[0]!.n === 2 || undefined;
      });
    },
    { settings },
  );
  const { rows } = await db.pool.query<{ last_error: string }>('SELECT last_error FROM failed_records ORDER BY id');
  assert.deepEqual(
    rows.map((r) => r.last_error),
    [
      `POST http://127.0.0.1:${downstream.port}/hook answered 404: no s…`,
      `POST http://127.0.0.2:${downstream.port}/refused refused: address 127.0.0.2 is not in HTTP_HANDLER_ALLOW_HOSTS`,
    ],
  );
  assert.equal(downstream.requests.length, 1, 'only the allowed record reached the downstream');
});
