import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from './support/ports.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { withWorker } from './support/worker.js';

// A success its batch commits with its record is not written to the ledger a second time; the view shows it.

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

async function insert(kind: string, n: number, maxAttempts: number): Promise<number[]> {
  const { rows } = await db.pool.query<{ id: number }>(
    'INSERT INTO failed_records (kind, max_attempts) SELECT $1, $3 FROM generate_series(1, $2) RETURNING id',
    [kind, n, maxAttempts],
  );
  return rows.map((r) => r.id);
}

/** Per record: its status, the outcome its ledger row stores, and the outcome failed_record_attempts shows. */
const outcomes = async (ids: number[]) =>
  (
    await db.pool.query<{ status: string; stored: string | null; shown: string | null; finished: boolean }>(
      `SELECT f.status, a.outcome AS stored, v.outcome AS shown, v.finished_at IS NOT NULL AS finished
       FROM failed_records f
       JOIN retry_worker_attempts a ON a.record_uid = f.uid
       JOIN failed_record_attempts v ON v.id = a.id
       WHERE f.id = ANY($1) ORDER BY f.id`,
      [ids],
    )
  ).rows;

const succeeded = (ids: number[]) => async () => {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM failed_records WHERE id = ANY($1) AND status = 'succeeded'`,
    [ids],
  );
  return rows[0]!.n === ids.length || undefined;
};

test('successes committed with their records show as succeeded; the last allowed attempt is stored', async () => {
  const spare = await insert('quick', 20, 3);
  const last = await insert('quick', 5, 1);
  // A hold no batch outlasts here, however loaded the machine: what the batch committed is never stored twice.
  await withWorker(
    db,
    'held-commit',
    { quick: async () => undefined },
    () => waitFor('every record to succeed', succeeded([...spare, ...last]), 20_000),
    { settings: { ledgerSuccessHoldMs: 60_000 } },
  );
  const spared = await outcomes(spare);
  assert.ok(
    spared.every((r) => r.shown === 'succeeded' && r.finished && r.stored === null),
    `shown as succeeded from the record, not stored again: ${JSON.stringify(spared)}`,
  );
  // A crash before its batch committed would leave the record dead with attempts exhausted.
  assert.deepEqual(
    (await outcomes(last)).map((r) => r.stored),
    ['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded'],
  );
});

test('LEDGER_SUCCESS_HOLD_MS=0 writes every success to the ledger at once', async () => {
  const ids = await insert('quick', 10, 3);
  await withWorker(
    db,
    'held-never',
    { quick: async () => undefined },
    () => waitFor('every record to succeed', succeeded(ids), 20_000),
    { settings: { ledgerSuccessHoldMs: 0 } },
  );
  assert.deepEqual(
    (await outcomes(ids)).map((r) => r.stored),
    ids.map(() => 'succeeded'),
  );
});

test('a success whose batch stays open is written to the ledger while the batch still runs', async () => {
  const [quick] = await insert('quick', 1, 3);
  const [slow] = await insert('slow', 1, 3);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await withWorker(db, 'held-open', { quick: async () => undefined, slow: () => released }, async () => {
    const [row] = await waitFor(
      "the quick record's success in the ledger",
      async () => {
        const rows = await outcomes([quick!]);
        return rows[0]?.stored === 'succeeded' ? rows : undefined;
      },
      10_000,
    );
    assert.equal(row!.status, 'pending', 'its batch, held open by the slow record, has not committed');
    release();
    await waitFor('both to succeed', succeeded([quick!, slow!]));
  });
});

test('a completion leaving a row unchanged writes its held successes; the next claim reconciles them', async () => {
  // The first completion of this record leaves its row as it was (the trigger skips the update), as if the row
  // had been changed under the claim: the batch cannot tell which success its COMMIT did not carry.
  await db.pool.query(`
    CREATE SEQUENCE held_skips;
    CREATE FUNCTION skip_first_completion() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status <> 'pending' AND OLD.kind = 'unchanged' AND nextval('held_skips') = 1 THEN RETURN NULL; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER skip_first_completion BEFORE UPDATE ON failed_records
      FOR EACH ROW EXECUTE FUNCTION skip_first_completion()`);
  try {
    const [id] = await insert('unchanged', 1, 3);
    let runs = 0;
    await withWorker(
      db,
      'held-unchanged',
      {
        unchanged: async () => {
          runs++;
        },
      },
      () => waitFor('the record to succeed', succeeded([id!]), 10_000),
    );
    assert.equal(runs, 1, 'the next claim found the success in the ledger and did not run the record again');
    assert.deepEqual(
      (await outcomes([id!])).map((r) => [r.status, r.stored, r.shown]),
      [['succeeded', 'succeeded', 'succeeded']],
    );
  } finally {
    await db.pool.query('DROP TRIGGER skip_first_completion ON failed_records; DROP FUNCTION skip_first_completion()');
  }
});
