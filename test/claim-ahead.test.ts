import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createWorker } from '../src/index.js';
import { createTestDatabase } from './support/postgres.js';
import { waitFor } from './support/ports.js';

test('the next batches are claimed and recorded while two whole batches are not yet running, up to MAX_OPEN_BATCHES', async (t) => {
  const db = await createTestDatabase();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const started: number[] = [];
  const worker = createWorker({
    config: { databaseUrl: db.url, electionBackend: 'static', replicaId: 'r1', leaderId: 'r1', concurrency: 1, batchSize: 4, maxOpenBatches: 3, pollIntervalMs: 100 },
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
  await db.pool.query(`INSERT INTO failed_records (kind) SELECT 'hold' FROM generate_series(1, 16)`);
  await worker.start();
  await waitFor('the first handler to start', () => started.length === 1 || undefined);
  // One record runs and seven wait: seven is more than CONCURRENCY × 3 and more than one whole batch, either
  // of which alone would hold the third claim back until a record finished. Two whole batches waiting is
  // the mark, so the third batch is claimed and its attempts recorded while the first record is still held;
  // a fourth is not, as MAX_OPEN_BATCHES is 3.
  const recorded = async () => (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM failed_record_attempts')).rows[0]!.n;
  await waitFor('the third batch to be claimed and recorded', async () => (await recorded()) === 12 || undefined, 5_000);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await recorded(), 12, 'no fourth batch while three are open');
  // Which record runs first is not fixed: two batches claimed back to back record their attempts at once,
  // and the batch whose ledger insert answers first hands its records to the slot first.
  assert.equal(started.length, 1, 'only the one slot runs');
  assert.ok(started[0]! <= 8, `the record running is one of the first two batches' (${started[0]})`);
  release();
  await waitFor('every record to succeed', async () => {
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM failed_records WHERE status = 'succeeded'`);
    return rows[0]!.n === 16 || undefined;
  });
  assert.deepEqual([...started].sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i + 1), 'each record ran once');
  assert.equal(await recorded(), 16);
});
