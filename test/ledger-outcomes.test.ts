import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createWorker, type Handlers } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { waitFor } from './support/ports.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

interface LedgerRow {
  recordId: number;
  attempt: number;
  stored: string | null;
  shown: string | null;
  finishedShown: boolean;
  recordFinished: boolean;
  finishedAfterStart: boolean;
}

/** Each attempt as stored in the table and as failed_record_attempts shows it. */
async function ledger(ids: number[]): Promise<LedgerRow[]> {
  const { rows } = await db.pool.query<LedgerRow>(
    `SELECT a.record_id AS "recordId", a.attempt, t.outcome AS stored, a.outcome AS shown,
            a.finished_at IS NOT NULL AS "finishedShown", f.finished_at IS NOT NULL AS "recordFinished",
            a.finished_at >= a.started_at AS "finishedAfterStart"
     FROM failed_record_attempts a JOIN retry_worker_attempts t USING (id) JOIN failed_records f ON f.id = a.record_id
     WHERE a.record_id = ANY($1) ORDER BY a.id`,
    [ids],
  );
  return rows;
}

async function insert(kinds: string[]): Promise<number[]> {
  const { rows } = await db.pool.query<{ id: number }>(`INSERT INTO failed_records (kind) SELECT unnest($1::text[]) RETURNING id`, [kinds]);
  return rows.map((r) => r.id);
}

async function statuses(ids: number[]): Promise<string[]> {
  const { rows } = await db.pool.query<{ status: string }>('SELECT status FROM failed_records WHERE id = ANY($1) ORDER BY id', [ids]);
  return rows.map((r) => r.status);
}

/** Runs a worker around `body`; returns its log lines (debug and up), for the messages of failed assertions. */
async function withWorker(name: string, handlers: Handlers, body: () => Promise<void>, settings: Record<string, unknown> = {}): Promise<string[]> {
  const lines: string[] = [];
  const worker = createWorker({
    config: { databaseUrl: db.url, electionBackend: 'static', electionName: name, replicaId: 'r1', leaderId: 'r1', pollIntervalMs: 100, ...settings },
    handlers,
    logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }),
  });
  await worker.start();
  try {
    await body();
  } finally {
    await worker.stop();
  }
  return lines;
}

test('a success committed with its batch is not written to the ledger, and failed_record_attempts shows it', async () => {
  const ids = await insert(['quick', 'quick', 'quick', 'broken']);
  await withWorker('committed-with-batch', { quick: async () => undefined, broken: async () => Promise.reject(new Error('boom')) }, async () => {
    await waitFor('the batch to complete', async () => (await statuses(ids)).every((s, i) => (i < 3 ? s === 'succeeded' : true)) && (await ledger(ids)).length === 4);
  });
  const rows = await ledger(ids);
  // A COMMIT slower than the recorder's grace (100 ms; it takes a few) would store them after all.
  assert.deepEqual(
    rows.map((r) => [r.attempt, r.stored, r.shown]),
    [
      [1, null, 'succeeded'],
      [1, null, 'succeeded'],
      [1, null, 'succeeded'],
      [1, 'failed', 'failed'],
    ],
    'the quick successes were committed with their records (nothing stored); the failure is stored with its error',
  );
  assert.ok(rows.slice(0, 3).every((r) => r.finishedShown && r.recordFinished && r.finishedAfterStart), 'a committed success shows its record’s finished_at, after the attempt started');
});

test('a success that waits longer than the gather window for its batch is written to the ledger first', async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const ids = await insert(['first', 'held']);
  await withWorker(
    'written-before-commit',
    { first: async () => undefined, held: () => released },
    async () => {
      // One batch of both, one slot: the first succeeds while the second is held, so its batch cannot
      // commit yet and its outcome must reach the ledger on its own.
      await waitFor('the first success to be stored', async () => (await ledger(ids)).find((r) => r.recordId === ids[0] && r.stored === 'succeeded'), 5_000);
      assert.deepEqual(await statuses(ids), ['pending', 'pending'], 'the batch has not committed');
      release();
      await waitFor('the batch to commit', async () => (await statuses(ids)).every((s) => s === 'succeeded'));
    },
    { concurrency: 1, batchSize: 2 },
  );
  assert.deepEqual(
    (await ledger(ids)).map((r) => [r.stored, r.shown]),
    [
      ['succeeded', 'succeeded'],
      [null, 'succeeded'],
    ],
  );
});

test('when the completion fails, the successes it was to commit are written to the ledger, and the next claim reconciles them without running them again', async () => {
  // A real failure of the completion statement: the first UPDATE to 'succeeded' of a 'fragile' record raises.
  // A sequence, because it does not roll back with the statement that failed.
  await db.pool.query(`
    CREATE SEQUENCE completion_refusals;
    CREATE FUNCTION refuse_first_completion() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status = 'succeeded' AND OLD.kind = 'fragile' AND nextval('completion_refusals') = 1 THEN
        RAISE EXCEPTION 'completion refused once, for the test';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_first_completion BEFORE UPDATE ON failed_records FOR EACH ROW EXECUTE FUNCTION refuse_first_completion()`);
  const runs = new Map<number, number>();
  const ids = await insert(['fragile', 'fragile']);
  const logs = await withWorker(
    'completion-fails',
    { fragile: async (record) => void runs.set(record.id, (runs.get(record.id) ?? 0) + 1) },
    async () => {
      await waitFor('both records to succeed', async () => (await statuses(ids)).every((s) => s === 'succeeded'), 10_000);
    },
  );
  const { rows: refusals } = await db.pool.query<{ n: number }>('SELECT last_value::int AS n FROM completion_refusals');
  assert.ok(refusals[0]!.n >= 1, 'the completion was refused once');
  assert.deepEqual([...runs.values()], [1, 1], `each record ran once; the worker's log:\n${logs.join('')}`);
  assert.deepEqual(
    (await ledger(ids)).map((r) => [r.attempt, r.stored, r.shown]),
    [
      [1, 'succeeded', 'succeeded'],
      [1, 'succeeded', 'succeeded'],
    ],
    'each success was stored after the completion failed, and reconciled by the next claim',
  );
});
