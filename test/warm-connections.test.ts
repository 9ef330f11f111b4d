import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createWorker } from '../src/index.js';
import { createTestDatabase } from './support/postgres.js';
import { waitFor } from './support/ports.js';

test('a new term opens its claim and ledger connections before its first records arrive', async (t) => {
  const db = await createTestDatabase();
  const worker = createWorker({
    config: { databaseUrl: db.url, electionBackend: 'static', replicaId: 'warm', leaderId: 'warm', maxOpenBatches: 3, pollIntervalMs: 60_000 },
    handlers: {},
    logger: pino({ level: 'silent' }),
  });
  t.after(async () => {
    await worker.stop();
    await db.drop();
  });
  await worker.start();
  // Nothing to claim: only the term's first (empty) claim ran. Its pool still holds MAX_OPEN_BATCHES + 1
  // connections, idle, each of which has run the ledger insert (prepared there under its name).
  const poolConnections = async () =>
    (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'retry-worker warm' AND state = 'idle' AND query LIKE 'ROLLBACK%'`)).rows[0]!.n;
  const warmed = await waitFor('the warmed connections', async () => ((await poolConnections()) >= 3 ? true : undefined), 5_000);
  assert.ok(warmed);
  await new Promise((r) => setTimeout(r, 200));
  const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'retry-worker warm'`);
  assert.ok(rows[0]!.n >= 4, `the claim's connection and three warmed ones (found ${rows[0]!.n})`);
});
