import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { lockedRecords } from '../src/db/is-record-locked.js';
import { PermanentFailure } from '../src/index.js';
import { waitFor } from './support/ports.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { withWorker } from './support/worker.js';

// The path from claim to completion, end to end in one process against a real Postgres.

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

async function insert(kinds: string[], maxAttempts: number | null = null): Promise<number[]> {
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO failed_records (kind, max_attempts)` +
      ` SELECT k, $2 FROM unnest($1::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n RETURNING id`,
    [kinds, maxAttempts],
  );
  return rows.map((r) => r.id);
}

interface Row {
  status: string;
  attempts: number;
  lastError: string | null;
}
const record = async (id: number): Promise<Row> =>
  (
    await db.pool.query<Row>('SELECT status, attempts, last_error AS "lastError" FROM failed_records WHERE id = $1', [
      id,
    ])
  ).rows[0]!;
const settled = (ids: number[]) => async () =>
  (await Promise.all(ids.map(record))).every((r) => r.status !== 'pending') || undefined;
const ledger = async (id: number) =>
  (
    await db.pool.query<{ attempt: number; outcome: string | null; error: string | null }>(
      `SELECT a.attempt, a.outcome, a.error FROM failed_record_attempts a JOIN failed_records f ON f.uid = a.record_uid
       WHERE f.id = $1 ORDER BY a.attempt`,
      [id],
    )
  ).rows.map((r) => [r.attempt, r.outcome, r.error]);

test('every attempt is written to the ledger with its outcome, and each record ends as its handler said', async () => {
  const calls = new Map<string, number>();
  const [ok, flaky, broken, doomed] = await insert(['ok', 'flaky', 'broken', 'doomed'], 3);
  await withWorker(
    db,
    'outcomes',
    {
      ok: async () => undefined,
      flaky: async (r) => {
        const n = (calls.get('flaky') ?? 0) + 1;
        calls.set('flaky', n);
        if (r.attempt < 2) throw new Error('not yet');
      },
      broken: async () => {
        throw new Error('always');
      },
      doomed: async () => {
        throw new PermanentFailure('never');
      },
    },
    async () => waitFor('every record to settle', settled([ok!, flaky!, broken!, doomed!]), 20_000),
    { settings: { backoffBaseMs: 10, backoffMaxMs: 20 } },
  );
  assert.deepEqual(await record(ok!), { status: 'succeeded', attempts: 1, lastError: null });
  assert.deepEqual(await record(flaky!), { status: 'succeeded', attempts: 2, lastError: null });
  assert.deepEqual(await record(broken!), { status: 'dead', attempts: 3, lastError: 'attempt 3 of 3 failed: always' });
  assert.deepEqual(await record(doomed!), { status: 'dead', attempts: 1, lastError: 'never' });
  assert.deepEqual(await ledger(ok!), [[1, 'succeeded', null]]);
  assert.deepEqual(await ledger(flaky!), [
    [1, 'failed', 'not yet'],
    [2, 'succeeded', null],
  ]);
  assert.deepEqual(await ledger(broken!), [
    [1, 'failed', 'always'],
    [2, 'failed', 'always'],
    [3, 'failed', 'always'],
  ]);
  assert.deepEqual(await ledger(doomed!), [[1, 'dead', 'never']]);
});

test(
  'a record of an unknown kind, or with a payload over PAYLOAD_MAX_BYTES' + ', is dead without running, saying why',
  async () => {
    const [unknown] = await insert(['nobody-handles-this']);
    const { rows } = await db.pool.query<{ id: number }>(
      `INSERT INTO failed_records (kind, payload)` +
        ` VALUES ('big', jsonb_build_object('blob', repeat('x', 2000))) RETURNING id`,
    );
    const big = rows[0]!.id;
    let ran = false;
    await withWorker(
      db,
      'not-run',
      {
        big: async () => {
          ran = true;
        },
      },
      async () => waitFor('both to settle', settled([unknown!, big]), 10_000),
      { settings: { payloadMaxBytes: 1024 } },
    );
    assert.equal(ran, false);
    const u = await record(unknown!);
    assert.equal(u.status, 'dead');
    assert.match(
      u.lastError ?? '',
      /unknown kind "nobody-handles-this": no handler is registered for it \(known kinds: big, http\)/,
    );
    const b = await record(big);
    assert.equal(b.status, 'dead');
    assert.match(b.lastError ?? '', /payload is \d+ bytes, over PAYLOAD_MAX_BYTES \(1024\); it was not loaded/);
    assert.deepEqual(await ledger(big), [], 'nothing ran, so no attempt was recorded');
  },
);

test(
  'an error text with NUL bytes, or very long, neither fails its batch' + ' nor loses the other records’ outcomes',
  async () => {
    const ids = await insert(['nul', 'long', 'ok', 'ok', 'ok']);
    let okRuns = 0;
    await withWorker(
      db,
      'bad-text',
      {
        nul: async () => {
          throw new PermanentFailure('upstream said \u0000\u0000 nothing useful');
        },
        long: async () => {
          throw new PermanentFailure('x'.repeat(100_000));
        },
        ok: async () => {
          okRuns++;
        },
      },
      async () => waitFor('every record to settle', settled(ids), 10_000),
    );
    assert.equal(okRuns, 3, 'the ok records ran once each: their batch was not rolled back');
    const nul = await record(ids[0]!);
    assert.deepEqual(nul, { status: 'dead', attempts: 1, lastError: 'upstream said \\0\\0 nothing useful' });
    const long = await record(ids[1]!);
    assert.equal(long.status, 'dead');
    assert.equal(long.lastError!.length, 2_000);
    for (const id of ids.slice(2)) assert.equal((await record(id)).status, 'succeeded');
  },
);

test('a record inserted with a reused id never inherits the ledger rows of the record that had it before', async () => {
  // An attempt of an earlier record 900001 whose executor died: outcome NULL, attempt 1 of 1.
  await db.pool.query(`INSERT INTO failed_records (id, kind, max_attempts) VALUES (900001, 'ok', 1)`);
  await db.pool.query(`INSERT INTO retry_worker_attempts (record_id, record_uid, attempt, epoch, replica_id)
                       SELECT id, uid, 1, 1, 'gone' FROM failed_records WHERE id = 900001`);
  await db.pool.query(`DELETE FROM failed_records WHERE id = 900001`);
  // The same id again (an explicit id; TRUNCATE ... RESTART IDENTITY does the same).
  await db.pool.query(`INSERT INTO failed_records (id, kind, max_attempts) VALUES (900001, 'ok', 1)`);
  let runs = 0;
  await withWorker(
    db,
    'reused-id',
    {
      ok: async () => {
        runs++;
      },
    },
    async () => waitFor('the record to settle', settled([900001]), 10_000),
  );
  assert.equal(runs, 1, 'the new record ran: the dead attempt was not its own');
  assert.deepEqual(await record(900001), { status: 'succeeded', attempts: 1, lastError: null });
});

test('lowering max_attempts below the attempts made marks the record dead with an honest last_error', async () => {
  const [id] = await insert(['flaky'], 5);
  await db.pool.query(
    `UPDATE failed_records SET attempts = 2, last_error = 'HTTP 503', max_attempts = 2 WHERE id = $1`,
    [id],
  );
  let ran = false;
  await withWorker(
    db,
    'lowered',
    {
      flaky: async () => {
        ran = true;
      },
    },
    async () => waitFor('the record to settle', settled([id!]), 10_000),
  );
  assert.equal(ran, false);
  assert.deepEqual(await record(id!), {
    status: 'dead',
    attempts: 2,
    lastError: 'max_attempts is 2 and 2 attempts were made; last error: HTTP 503',
  });
});

test(
  'when the completion fails, the outcomes stay in the ledger' +
    ' and the next claim reconciles them without running the records again',
  async () => {
    await db.pool.query(`
    CREATE SEQUENCE completion_refusals;
    CREATE FUNCTION refuse_first_completion() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status <> 'pending' AND OLD.kind LIKE 'fragile%' AND nextval('completion_refusals') = 1 THEN
        RAISE EXCEPTION 'completion refused once, for the test';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_first_completion BEFORE UPDATE ON failed_records
      FOR EACH ROW EXECUTE FUNCTION refuse_first_completion()`);
    try {
      const runs = new Map<number, number>();
      const ids = await insert(['fragile', 'fragile', 'fragile-dead']);
      const count = (id: number) => runs.set(id, (runs.get(id) ?? 0) + 1);
      const run = await withWorker(
        db,
        'completion-fails',
        {
          fragile: async (r) => void count(r.id),
          'fragile-dead': async (r) => {
            count(r.id);
            throw new PermanentFailure('no');
          },
        },
        async () => waitFor('every record to settle', settled(ids), 10_000),
      );
      const { rows } = await db.pool.query<{ n: number }>('SELECT last_value::int AS n FROM completion_refusals');
      assert.ok(rows[0]!.n >= 1, 'the completion was refused once');
      assert.deepEqual([...runs.values()], [1, 1, 1], `each record ran once; the log:\n${run.text()}`);
      assert.deepEqual(await record(ids[0]!), { status: 'succeeded', attempts: 1, lastError: null });
      assert.deepEqual(await record(ids[2]!), { status: 'dead', attempts: 1, lastError: 'no' });
    } finally {
      await db.pool.query(
        'DROP TRIGGER refuse_first_completion ON failed_records; DROP FUNCTION refuse_first_completion()',
      );
    }
  },
);

test('a record freed by its batch losing the connection is not run again while its handler still runs', async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let starts = 0;
  const [id] = await insert(['stubborn']);
  const isLocked = async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      return (
        (await client.query('SELECT id FROM failed_records WHERE id = $1 FOR SHARE SKIP LOCKED', [id])).rows.length ===
        0
      );
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  };
  const run = await withWorker(
    db,
    'lost-connection',
    {
      // Ignores its signal: runs on after its batch's rows are gone.
      stubborn: async () => {
        starts++;
        await released;
      },
    },
    async () => {
      await waitFor('the handler to start', () => starts === 1 || undefined);
      // Postgres ends the batch's session: the row is free at once, while the handler still runs.
      await db.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'retry-worker lost-connection' AND state = 'idle in transaction'`,
      );
      await waitFor('the row to be claimed again', async () => ((await isLocked()) ? true : undefined), 5_000, 10);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(starts, 1, 'the record was not started a second time while its first run went on');
      release();
      await waitFor(
        'the record to succeed',
        async () => ((await record(id!)).status === 'succeeded' ? true : undefined),
        10_000,
      );
    },
  );
  assert.equal(
    starts,
    1,
    `its success was kept in the ledger and reconciled by the next claim; the log:\n${run.text()}`,
  );
  assert.deepEqual(await ledger(id!), [[1, 'succeeded', null]]);
  assert.equal((await record(id!)).attempts, 1);
});

test(
  'records claimed but not started when the term ends keep their rows as they were' + ' and leave no ledger row',
  async () => {
    const ids = await insert(Array.from({ length: 40 }, () => 'slow'));
    let started = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    await withWorker(
      db,
      'term-ends',
      {
        slow: async () => {
          started++;
          await released;
        },
      },
      async (run) => {
        await waitFor('the first two to start', () => started === 2 || undefined);
        // stop() drains: nothing new starts; the two running finish once released.
        const stopping = run.worker.stop();
        await new Promise((r) => setTimeout(r, 100));
        release();
        await stopping;
      },
      { settings: { concurrency: 2, batchSize: 40 } },
    );
    assert.equal(started, 2);
    const { rows } = await db.pool.query<{ status: string; attempts: number; n: number }>(
      `SELECT status, attempts, count(*)::int AS n FROM failed_records WHERE id = ANY($1) GROUP BY 1, 2 ORDER BY 1`,
      [ids],
    );
    assert.deepEqual(rows, [
      { status: 'pending', attempts: 0, n: 38 },
      { status: 'succeeded', attempts: 1, n: 2 },
    ]);
    const { rows: attempts } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM retry_worker_attempts a` +
        ` JOIN failed_records f ON f.uid = a.record_uid WHERE f.id = ANY($1)`,
      [ids],
    );
    assert.equal(attempts[0]!.n, 2, 'only the two attempts that started are in the ledger');
  },
);

type Run = { worker: { metrics: { render(): Promise<{ body: string }> } } };
const counter = async (run: Run, name: string) =>
  Number(new RegExp(`^retry_worker_${name} (\\d+)$`, 'm').exec((await run.worker.metrics.render()).body)?.[1]);
const emptyClaims = (run: Run) => counter(run, 'empty_claims_total');

test('an idle leader claims once per record it is woken for, not again when that batch ends', async () => {
  await withWorker(
    db,
    'idle-claims',
    { ok: async () => undefined },
    async (run) => {
      // Past the claims of the term's start (nothing due): the count stays put.
      let before = -1;
      await waitFor('the first claims to be done', async () => {
        const now = await emptyClaims(run);
        const still = now > 0 && now === before;
        before = now;
        await new Promise((r) => setTimeout(r, 300));
        return still || undefined;
      });
      const ahead = await counter(run, 'attempts_recorded_ahead_total');
      for (let i = 0; i < 5; i++) {
        const [id] = await insert(['ok']);
        await waitFor('the record to succeed', settled([id!]), 10_000);
        // Its attempt was recorded beside its claim, once: the claim did not count that row as a dead attempt.
        assert.deepEqual(await ledger(id!), [[1, 'succeeded', null]]);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(await emptyClaims(run), before, 'a claim that found nothing after a batch ended');
      assert.equal(await counter(run, 'attempts_recorded_ahead_total'), ahead + 5);
    },
    { settings: { pollIntervalMs: 60_000 } },
  );
});

test('a leader with no room for another batch claims again as soon as one ends, not at its next poll', async () => {
  const ids = await insert(Array.from({ length: 8 }, () => 'ok'));
  await withWorker(
    db,
    'room-claims',
    { ok: async () => new Promise((r) => setTimeout(r, 20)) },
    async () => waitFor('every record to succeed', settled(ids), 10_000),
    { settings: { pollIntervalMs: 60_000, maxOpenBatches: 1, batchSize: 2, concurrency: 2 } },
  );
});

test('a leader waiting for room claims the next batch when a record starts, not when a batch ends', async () => {
  // Nothing else due (earlier tests leave records in backoff): the claims here are of these records only.
  await db.pool.query(`UPDATE failed_records SET status = 'discarded' WHERE status = 'pending'`);
  const ids = await insert(Array.from({ length: 18 }, () => 'gated'));
  const running = new Map<number, () => void>();
  const release = async (id: number) => {
    await waitFor(`record ${id} to start`, async () => running.has(id) || undefined, 5_000);
    running.get(id)!();
  };
  // Two slots and claims of 4 (twice the slots: nothing runs fast here): at most 6 records wait to start
  // (claimAhead, 3 × CONCURRENCY). The first batch's first two records run and its other two wait; the second
  // batch makes 6 waiting, and the loop waits for room. Once the first record has run, the third starts: 5
  // wait, and the third batch must be claimed then, while the first batch is still open (records 1 and 2 run).
  // (No poll comes in time: the poll interval is a minute.)
  await withWorker(
    db,
    'room-on-start',
    { gated: (record) => new Promise<void>((resolve) => running.set(record.id, resolve)) },
    async () => {
      await release(ids[0]!);
      await waitFor(`record ${ids[2]} to start`, async () => running.has(ids[2]!) || undefined, 5_000);
      await waitFor(
        'the third batch to be claimed while the first is open',
        async () => (await lockedRecords(db.pool, ids.slice(8, 12))) === 4 || undefined,
        5_000,
      );
      for (const id of ids.slice(1)) await release(id);
      await waitFor('every record to succeed', settled(ids), 10_000);
    },
    { settings: { pollIntervalMs: 60_000, maxOpenBatches: 3, batchSize: 4, concurrency: 2 } },
  );
});

/** Ledger ids taken so far (a deleted row keeps its id taken). */
const attemptIds = async () =>
  Number(
    (
      await db.pool.query<{ n: string }>(
        `SELECT coalesce(last_value, 0) AS n
         FROM pg_sequences WHERE sequencename = (SELECT relname FROM pg_class
           WHERE oid = pg_get_serial_sequence('retry_worker_attempts', 'id')::regclass)`,
      )
    ).rows[0]!.n,
  );

test('an attempt recorded ahead of a claim that settles its record without running it is deleted', async () => {
  await withWorker(db, 'ahead-settled', { ok: async () => undefined }, async () => {
    const [id] = await insert(['nobody-handles-this']);
    await waitFor('the record to be dead', settled([id!]), 10_000);
    assert.equal((await record(id!)).status, 'dead');
    assert.deepEqual(await ledger(id!), []);
  });
});

test('an attempt recorded ahead for a record another transaction holds is deleted, never counted', async () => {
  // Nothing else due (earlier tests leave records in backoff): every claim here is about this record.
  await db.pool.query(`UPDATE failed_records SET status = 'discarded' WHERE status = 'pending'`);
  const [id] = await insert(['ok']);
  // Held, as an operator's command or a previous term's batch would hold it: every claim skips it, while the
  // row written ahead of each claim (which locks nothing) names it.
  const holder = await db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM failed_records WHERE id = $1 FOR UPDATE', [id]);
    await withWorker(
      db,
      'ahead-held',
      { ok: async () => undefined },
      async (run) => {
        const written = await attemptIds();
        await waitFor('claims that skipped the held record', async () => (await emptyClaims(run)) >= 5 || undefined);
        // After one unused row, the polls write no more of them.
        assert.ok((await attemptIds()) - written <= 1, `${(await attemptIds()) - written} ledger rows written ahead`);
        await holder.query('COMMIT');
        await db.pool.query('NOTIFY retry_worker_due');
        await waitFor('the record to succeed', settled([id!]), 10_000);
      },
      { settings: { pollIntervalMs: 50 } },
    );
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    holder.release();
  }
  assert.deepEqual(await record(id!), { status: 'succeeded', attempts: 1, lastError: null });
  assert.deepEqual(await ledger(id!), [[1, 'succeeded', null]]);
});

test('slow handlers: a claim takes twice the slots, not BATCH_SIZE, so few rows wait under a lock', async () => {
  await db.pool.query(`UPDATE failed_records SET status = 'discarded' WHERE status = 'pending'`);
  const ids = await insert(Array.from({ length: 40 }, () => 'slow'));
  let most = 0;
  await withWorker(
    db,
    'pace-slow',
    { slow: () => new Promise<void>((r) => setTimeout(r, 100)) },
    async () => {
      // Two slots, claims of four, two batches open: at most 8 rows locked at once (BATCH_SIZE would take all 40).
      while (!(await settled(ids)())) {
        most = Math.max(most, await lockedRecords(db.pool, ids));
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    { settings: { concurrency: 2 } },
  );
  assert.ok(most > 0, 'saw the rows locked');
  assert.ok(most <= 8, `${most} rows were locked at once`);
});

test('fast handlers: claims grow past twice the slots, toward BATCH_SIZE', async () => {
  await db.pool.query(`UPDATE failed_records SET status = 'discarded' WHERE status = 'pending'`);
  await insert(Array.from({ length: 20_000 }, () => 'fast'));
  await withWorker(db, 'pace-fast', { fast: async () => undefined }, async (run) => {
    await waitFor(
      'none pending',
      async () =>
        (await db.pool.query(`SELECT 1 FROM failed_records WHERE status = 'pending' LIMIT 1`)).rowCount === 0 ||
        undefined,
      60_000,
    );
    const mean = (await counter(run, 'claimed_records_total')) / (await counter(run, 'claimed_batches_total'));
    // Ten slots: the floor is 20. Handlers that return at once take microseconds; a loaded machine stretches how
    // long they seem to run (the loop sees their end late), but a claim stays above 100 until that reaches 5 ms.
    assert.ok(mean > 100, `a claim took ${mean} records on average`);
  });
});
