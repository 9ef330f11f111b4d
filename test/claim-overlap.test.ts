import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createWorker, type Handlers } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { waitFor } from './support/ports.js';

// Two ways a claimed record can turn out not to be the claim's to run.

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

async function withWorker(name: string, handlers: Handlers, body: (logs: string[]) => Promise<void>): Promise<void> {
  const logs: string[] = [];
  const worker = createWorker({
    config: { databaseUrl: db.url, electionBackend: 'static', electionName: name, replicaId: name, leaderId: name, pollIntervalMs: 50, concurrency: 2 },
    handlers,
    logger: pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) }),
  });
  await worker.start();
  try {
    await body(logs);
  } finally {
    await worker.stop();
  }
}

const ledger = async (id: number) =>
  (await db.pool.query<{ attempt: number; outcome: string | null }>('SELECT attempt, outcome FROM failed_record_attempts WHERE record_id = $1 ORDER BY id', [id])).rows.map((r) => [r.attempt, r.outcome]);
const isLocked = async (id: number) => {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    return (await client.query('SELECT id FROM failed_records WHERE id = $1 FOR SHARE SKIP LOCKED', [id])).rows.length === 0;
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
};
const record = async (id: number) => (await db.pool.query<{ status: string; attempts: number; lastError: string | null }>('SELECT status, attempts, last_error AS "lastError" FROM failed_records WHERE id = $1', [id])).rows[0]!;

test('a record freed by its batch losing the connection is not run again while its handler still runs', async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let starts = 0;
  const { rows } = await db.pool.query<{ id: number }>(`INSERT INTO failed_records (kind) VALUES ('stubborn') RETURNING id`);
  const id = rows[0]!.id;
  await withWorker('lost-connection', { stubborn: async () => void (starts++, await released) }, async (logs) => {
    await waitFor('the handler to start', () => starts === 1 || undefined);
    // Postgres ends the batch's session: the row is free at once, while the handler (which ignores its
    // signal) still runs. The loop claims it again within its poll interval (50 ms) and must wait.
    await db.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'retry-worker lost-connection' AND state = 'idle in transaction'`);
    await waitFor('the row to be claimed again', async () => ((await isLocked(id)) ? true : undefined), 5_000, 10);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(starts, 1, `the handler still running was not started a second time; the log:\n${logs.join('')}`);
    release();
    await waitFor('the record to succeed', async () => ((await record(id)).status === 'succeeded' ? true : undefined), 10_000);
  });
  assert.equal(starts, 1, 'its one success was recorded by the failed batch and reconciled by the next claim');
  assert.deepEqual(await ledger(id), [[1, 'succeeded']]);
  assert.equal((await record(id)).attempts, 1);
});

test('records changed by someone else between their ledger write and their lock are left to them, their attempts marked skipped', async () => {
  // What an operator's UPDATE at that instant would do, made certain: the ledger insert itself changes the
  // record, ending it (no longer pending) or postponing it (still pending, no longer due).
  await db.pool.query(`
    CREATE FUNCTION meddle() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE failed_records SET status = 'dead', last_error = 'stopped by an operator' WHERE id = NEW.record_id AND kind = 'ended';
      UPDATE failed_records SET next_run_at = now() + interval '1 hour' WHERE id = NEW.record_id AND kind = 'postponed';
      RETURN NULL;
    END $$;
    CREATE TRIGGER meddle AFTER INSERT ON retry_worker_attempts FOR EACH ROW EXECUTE FUNCTION meddle()`);
  try {
    const runs: number[] = [];
    const { rows } = await db.pool.query<{ id: number }>(`INSERT INTO failed_records (kind) VALUES ('ended'), ('postponed'), ('plain') RETURNING id`);
    const [ended, postponed, plain] = rows.map((r) => r.id) as [number, number, number];
    const run = async (r: { id: number }) => void runs.push(r.id);
    await withWorker('changed-meanwhile', { ended: run, postponed: run, plain: run }, async () => {
      await waitFor('the plain record to succeed', async () => ((await record(plain)).status === 'succeeded' ? true : undefined));
      for (const id of [ended, postponed]) await waitFor('the attempt to be marked skipped', async () => ((await ledger(id)).some(([, o]) => o === 'skipped') ? true : undefined), 5_000);
    });
    assert.deepEqual(runs, [plain], 'only the record that stayed as it was ran');
    assert.deepEqual(await record(ended), { status: 'dead', attempts: 0, lastError: 'stopped by an operator' }, "the operator's change stands");
    assert.deepEqual(await record(postponed), { status: 'pending', attempts: 0, lastError: null });
    assert.deepEqual(await ledger(ended), [[1, 'skipped']]);
    assert.deepEqual(await ledger(postponed), [[1, 'skipped']]);
  } finally {
    await db.pool.query('DROP TRIGGER meddle ON retry_worker_attempts; DROP FUNCTION meddle()');
  }
});
