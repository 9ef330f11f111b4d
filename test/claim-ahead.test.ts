import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createWorker } from '../src/index.js';
import { createTestDatabase } from './support/postgres.js';
import { waitFor } from './support/ports.js';

test('the next batch is claimed and recorded as soon as the current one starts', async (t) => {
  const db = await createTestDatabase();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const started: number[] = [];
  const worker = createWorker({
    config: { databaseUrl: db.url, electionBackend: 'static', replicaId: 'r1', leaderId: 'r1', concurrency: 1, batchSize: 4, maxOpenBatches: 2, pollIntervalMs: 100 },
    handlers: {
      hold: async (record) => {
        started.push(record.id);
        await released;
      },
    },
    logger: pino({ level: 'silent' }),
  });
  t.after(async () => {
    release(); // a failed assertion must not leave a handler holding the worker's stop
    await worker.stop();
    await db.drop();
  });
  await db.pool.query(`INSERT INTO failed_records (kind) SELECT 'hold' FROM generate_series(1, 12)`);
  await worker.start();
  await waitFor('the first handler to start', () => started.length === 1 || undefined);
  // One record runs and three of its batch wait: three is CONCURRENCY × 3, which alone would hold the next
  // claim back until a record finished. A whole batch waiting is the mark, so the second batch is claimed
  // and its attempts recorded while the first record is still held.
  const recorded = async () => (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM failed_record_attempts')).rows[0]!.n;
  await waitFor('the second batch to be claimed and recorded', async () => (await recorded()) === 8 || undefined, 5_000);
  assert.deepEqual(started, [1], 'only the one slot runs');
  release();
  await waitFor('every record to succeed', async () => {
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM failed_records WHERE status = 'succeeded'`);
    return rows[0]!.n === 12 || undefined;
  });
  assert.deepEqual([...started].sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i + 1), 'each record ran once');
  assert.equal(await recorded(), 12);
});
