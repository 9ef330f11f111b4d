import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createWorker } from '../src/index.js';
import { createTestDatabase } from './support/postgres.js';
import { waitFor } from './support/ports.js';

test('a new term opens its claim connections and prepares the claim on each before its first records arrive', async (t) => {
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
  // Nothing to claim: only the term's first (empty) claim ran, and one more once it listened. MAX_OPEN_BATCHES
  // of the pool's connections, idle, have the claim prepared: their last query prepared and planned it (a long
  // query's text is cut short in pg_stat_activity, so its start is matched), or was the COMMIT of an empty
  // claim (which prepares it too, where it was not).
  const claimReady = async () =>
    (
      await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'retry-worker warm' AND state = 'idle'
           AND (query LIKE 'PREPARE retry_worker_claim AS%' OR query LIKE '%EXPLAIN EXECUTE retry_worker_claim;%' OR query = 'COMMIT')`,
      )
    ).rows[0]!.n;
  const warmed = await waitFor('the warmed connections', async () => ((await claimReady()) >= 3 ? true : undefined), 5_000);
  assert.ok(warmed);
});
