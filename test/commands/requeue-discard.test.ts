import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { insertRecords } from '../../src/db/insert-records.js';
import { requeue } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { runCli } from '../support/run-cli.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db?.drop();
});

const cli = (...args: string[]) => runCli(args, { DATABASE_URL: db.url });

/** Inserts records of `kind` and makes them dead after `attempts` attempts, as the leader would. */
async function deadRecords(
  kind: string,
  n: number,
  attempts = 3,
  lastError = 'HTTP 503 from billing',
): Promise<number[]> {
  const ids = await insertRecords(
    db.pool,
    Array.from({ length: n }, (_, i) => ({ kind, payload: { i }, maxAttempts: attempts })),
  );
  await db.pool.query(
    `UPDATE failed_records SET status = 'dead', attempts = $2, last_error = $3, finished_at = now() - interval '1 hour',
            updated_at = now() - interval '1 hour', next_run_at = now() - interval '2 hours'
     WHERE id = ANY($1::bigint[])`,
    [ids, attempts, lastError],
  );
  return ids;
}

const rows = async (ids: number[]) =>
  (
    await db.pool.query<{ id: number; status: string; attempts: number; attempt_base: number; due: boolean }>(
      `SELECT id, status, attempts, attempt_base, next_run_at <= now() AS due FROM failed_records
       WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [ids],
    )
  ).rows;

test('requeue moves dead records to pending with a fresh budget; status --record tells who, when and why', async () => {
  const ids = await deadRecords('req-a', 3);
  const other = await deadRecords('req-other', 1, 3, 'connection refused');
  const dry = await cli('requeue', '--kind', 'req-a', '--dry-run');
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would move 3 records .*nothing was changed/);
  assert.deepEqual(
    (await rows(ids)).map((r) => r.status),
    ['dead', 'dead', 'dead'],
  );

  const run = await cli(
    'requeue',
    '--kind',
    'req-a',
    '--error-like',
    '%503%',
    '--reason',
    'billing is back',
    '--actor',
    'alice',
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /requeue: moved 3 records to pending .* in 1 batch\n/);
  for (const r of await rows(ids))
    assert.deepEqual([r.status, r.attempts, r.attempt_base, r.due], ['pending', 3, 3, true]);
  assert.equal((await rows(other))[0]!.status, 'dead', 'another kind is left alone');

  const explained = await cli('status', '--record', String(ids[0]));
  assert.equal(explained.code, 0, explained.stderr);
  assert.match(explained.stdout, /requeued with a fresh budget after 3 attempts/);
  assert.match(explained.stdout, /requeue by alice at \S+ \(.* ago\): billing is back/);
  assert.match(explained.stdout, /3 of 6 attempts recorded/);
});

test('requeue and discard report unknown ids, records in another status, and a selector matching nothing', async () => {
  const [dead] = await deadRecords('req-b', 1);
  const [pending] = await insertRecords(db.pool, [{ kind: 'req-b', payload: {}, maxAttempts: null }]);
  const run = await cli('requeue', '--id', String(dead), '--id', String(pending), '--id', '987654');
  assert.equal(run.code, 3, run.stdout + run.stderr);
  assert.match(run.stdout, /moved 1 record /);
  assert.match(run.stdout, /no such record: 987654/);
  assert.match(run.stdout, new RegExp(`record ${pending} is pending, not dead: left alone`));

  const none = await cli('discard', '--kind', 'no-such-kind');
  assert.equal(none.code, 3);
  assert.match(none.stdout, /discard: nothing matched \(no dead record fits the selectors\)/);

  const [toDiscard] = await deadRecords('req-b', 1);
  const discarded = await cli('discard', '--id', String(toDiscard), '--reason', 'customer closed the account');
  assert.equal(discarded.code, 0, discarded.stderr);
  assert.equal((await rows([toDiscard!]))[0]!.status, 'discarded');
  const explained = await cli('status', '--record', String(toDiscard), '--json');
  const report = JSON.parse(explained.stdout) as { explanation: { state: string; summary: string } };
  assert.equal(report.explanation.state, 'discarded');
  assert.match(report.explanation.summary, /discarded at .* by \S+@\S+: customer closed the account; final/);
  // A discarded record can be requeued.
  const back = await cli('requeue', '--status', 'discarded', '--id', String(toDiscard));
  assert.equal(back.code, 0, back.stdout);
  assert.equal((await rows([toDiscard!]))[0]!.status, 'pending');
});

test('bad options exit 2 naming the option', async () => {
  for (const [args, option] of [
    [['requeue', '--status', 'bogus'], '--status'],
    [['discard', '--status', 'succeeded'], '--status'],
    [['requeue', '--since', 'yesterday'], '--since'],
    [['requeue', '--id', 'x1'], '--id'],
    [['requeue', '--batch-size', '0'], '--batch-size'],
    [['requeue', '--frobnicate'], '--frobnicate'],
    [['prune'], '--older-than'],
    [['prune', '--older-than', '30 days'], '--older-than'],
    [['cancel'], 'ID'],
  ] as const) {
    const run = await cli(...args);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stdout}${run.stderr}`);
    assert.ok(run.stderr.includes(option), `${args.join(' ')} names ${option}: ${run.stderr}`);
  }
});

test('requeue of 20,000 records goes in batches of --batch-size, each its own statement', async () => {
  await db.pool.query(
    `INSERT INTO failed_records (kind, payload, status, attempts, max_attempts, finished_at, last_error)
     SELECT 'bulk', '{}', 'dead', 2, 2, now(), 'gone' FROM generate_series(1, 20000)`,
  );
  const run = await cli('requeue', '--kind', 'bulk', '--batch-size', '1000', '--json');
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { moved: number; batches: number; matched: number };
  assert.equal(result.moved, 20_000);
  assert.equal(result.matched, 20_000);
  assert.equal(result.batches, 20);
  const { rows: left } = await db.pool.query(
    `SELECT count(*)::int AS n FROM failed_records WHERE kind = 'bulk' AND status <> 'pending'`,
  );
  assert.equal(left[0].n, 0);
  const { rows: history } = await db.pool.query(
    `SELECT count(*)::int AS n FROM retry_worker_record_actions a JOIN failed_records f ON f.uid = a.record_uid
     WHERE f.kind = 'bulk' AND a.action = 'requeue'`,
  );
  assert.equal(history[0].n, 20_000);
});

test('a row a claim holds is skipped and reported, never touched, by the CLI and the library API', async () => {
  const [held, free] = await deadRecords('req-lib', 2);
  const claim = await db.pool.connect();
  try {
    await claim.query('BEGIN');
    await claim.query('SELECT id FROM failed_records WHERE id = $1 FOR UPDATE', [held]);
    // The CLI first: it has a lock timeout, so a requeue that waited for the lock would fail fast here.
    const viaCli = await cli('requeue', '--kind', 'req-lib');
    assert.equal(viaCli.code, 3, viaCli.stdout + viaCli.stderr);
    assert.match(viaCli.stdout, /moved 1 record /);
    assert.match(
      viaCli.stdout,
      new RegExp(`skipped 1 record a claim holds \\(executing now; try again later\\): ${held}`),
    );
    const result = await requeue(db.pool, { kind: 'req-lib' }, { actor: 'lib', batchSize: 1 });
    assert.equal(result.moved, 0);
    assert.deepEqual(result.skipped, [held]);
    assert.equal(result.skippedCount, 1);
  } finally {
    await claim.query('ROLLBACK');
    claim.release();
  }
  assert.deepEqual(
    (await rows([held!, free!])).map((r) => r.status),
    ['dead', 'pending'],
  );
});

test('a success committed only with its record stays in failed_record_attempts once it is requeued', async () => {
  const [won, died] = await insertRecords(db.pool, [
    { kind: 'req-success', payload: {}, maxAttempts: 3 },
    { kind: 'req-success', payload: {}, maxAttempts: 1 },
  ]);
  // As the leader leaves them: ledger rows without an outcome. One record succeeded (its own row says so,
  // committed with its completion); the other is dead, its only attempt's executor having died.
  await db.pool.query(
    `INSERT INTO retry_worker_attempts (record_id, record_uid, attempt, epoch, replica_id)
     SELECT id, uid, 1, 1, 'r' FROM failed_records WHERE id = ANY($1)`,
    [[won, died]],
  );
  await db.pool.query(
    `UPDATE failed_records SET status = CASE WHEN id = $1 THEN 'succeeded' ELSE 'dead' END, attempts = 1,
            finished_at = now() - interval '1 minute'
     WHERE id = ANY($2)`,
    [won, [won, died]],
  );
  const view = async () =>
    (
      await db.pool.query<{ id: number; outcome: string | null; finished: string | null }>(
        `SELECT record_id AS id, outcome, finished_at::text AS finished FROM failed_record_attempts
         WHERE record_id = ANY($1) ORDER BY record_id`,
        [[won, died]],
      )
    ).rows;
  const before = await view();
  const finished = (await db.pool.query('SELECT finished_at::text AS f FROM failed_records WHERE id = $1', [won]))
    .rows[0].f;
  assert.deepEqual(before, [
    { id: won, outcome: 'succeeded', finished },
    { id: died, outcome: null, finished: null },
  ]);
  const result = await requeue(db.pool, { ids: [won!, died!], statuses: ['succeeded', 'dead'] }, { actor: 'test' });
  assert.equal(result.moved, 2);
  assert.deepEqual(
    (await rows([won!, died!])).map((r) => r.status),
    ['pending', 'pending'],
  );
  assert.deepEqual(await view(), before, 'the success and its time stay; the attempt that died stays open');
});
