import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { claimRecords } from '../src/db/claim-records.js';
import { fenceTerm } from '../src/db/fence-term.js';
import { createPool } from '../src/db/pool.js';
import { startAttemptAhead } from '../src/db/start-ahead.js';
import { termLockKey } from '../src/db/term-lock.js';
import { FencedError } from '../src/errors.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

let db: TestDatabase;
/** Connections of an old leader that keeps claiming. */
let claimers: pg.Pool;
before(async () => {
  db = await createTestDatabase();
  claimers = createPool({ databaseUrl: db.url, max: 10, applicationName: 'old leader', onError: () => undefined });
});
after(async () => {
  await claimers.end();
  await db.drop();
});

const name = 'fence-test';
const lockKey = termLockKey(name);
/** One token per epoch, as each term has its own. */
const tokens = new Map<number, string>();
const tokenOf = (epoch: number) => tokens.get(epoch) ?? tokens.set(epoch, randomUUID()).get(epoch)!;
const fence = (epoch: number, options: { lockTimeoutMs?: number; token?: string } = {}) =>
  fenceTerm(db.pool, {
    name,
    epoch,
    token: options.token ?? tokenOf(epoch),
    holder: `leader-${epoch}`,
    backend: 'test',
    lockKey,
    lockTimeoutMs: options.lockTimeoutMs ?? 200,
    timeoutMs: 10_000,
  });
const claim = (client: pg.ClientBase, epoch: number, token = tokenOf(epoch)) =>
  claimRecords(client, { name, epoch, token, limit: 10, payloadMaxBytes: 1_000_000, lockKey, caps: new Map() });

test('the stored epoch only grows: a lower epoch, or an equal one of another term, is superseded', async () => {
  assert.deepEqual(await fence(10), { outcome: 'holding' });
  assert.deepEqual(await fence(9), { outcome: 'superseded', storedEpoch: 10 });
  assert.deepEqual(await fence(10, { token: randomUUID() }), { outcome: 'superseded', storedEpoch: 10 });
  assert.deepEqual(await fence(11), { outcome: 'holding' });
});

test('the same term fencing again (an earlier try committed but its answer was lost) still holds', async () => {
  assert.deepEqual(await fence(20), { outcome: 'holding' });
  assert.deepEqual(await fence(20), { outcome: 'holding' });
});

test(
  'two terms handed the same epoch (a backend that lost a write)' + ': the second is refused, and cannot claim',
  async () => {
    await db.pool.query(`INSERT INTO failed_records (kind) VALUES ('noop')`);
    const first = randomUUID();
    const second = randomUUID();
    assert.deepEqual(await fence(30, { token: first }), { outcome: 'holding' });
    assert.deepEqual(await fence(30, { token: second }), { outcome: 'superseded', storedEpoch: 30 });
    const client = await db.pool.connect();
    try {
      await assert.rejects(
        claim(client, 30, second),
        (err: unknown) => err instanceof FencedError && err.storedEpoch === 30,
      );
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  },
);

test(
  "a paused leader's open claim is ended by Postgres" +
    ' after idle_in_transaction_session_timeout, freeing the barrier',
  async () => {
    await fence(40);
    await db.pool.query(`INSERT INTO failed_records (kind) VALUES ('noop')`);
    const pausedPool = createPool({
      databaseUrl: db.url,
      max: 1,
      applicationName: 'paused',
      session: { idle_in_transaction_session_timeout: 500 },
      onError: () => undefined,
    });
    try {
      const paused = await pausedPool.connect();
      assert.ok((await claim(paused, 40)).length > 0);
      assert.deepEqual(await fence(41), { outcome: 'busy' });
      await new Promise((r) => setTimeout(r, 800)); // the leader sends nothing: it is "paused"
      assert.deepEqual(await fence(41), { outcome: 'holding' });
      paused.release(true);
    } finally {
      await pausedPool.end();
    }
  },
);

test(
  'fencing records the term with its token, closes the open one it supersedes' +
    ', and a refused epoch records nothing',
  async () => {
    assert.deepEqual(await fence(50), { outcome: 'holding' });
    assert.deepEqual(await fence(51), { outcome: 'holding' });
    assert.deepEqual(await fence(49), { outcome: 'superseded', storedEpoch: 51 });
    const { rows } = await db.pool.query<{ epoch: number; token: string; reason: string | null; ended: boolean }>(
      `SELECT epoch, token, end_reason AS reason, ended_at IS NOT NULL AS ended` +
        ` FROM retry_worker_terms WHERE name = $1 AND epoch BETWEEN 49 AND 51 ORDER BY epoch`,
      [name],
    );
    assert.deepEqual(rows, [
      { epoch: 50, token: tokenOf(50), reason: 'superseded', ended: true },
      { epoch: 51, token: tokenOf(51), reason: null, ended: false },
    ]);
    const { rows: leader } = await db.pool.query(
      'SELECT epoch, token, holder FROM retry_worker_leader WHERE name = $1',
      [name],
    );
    assert.deepEqual(leader, [{ epoch: 51, token: tokenOf(51), holder: 'leader-51' }]);
  },
);

test('a superseded leader cannot claim, even with due rows', async () => {
  await fence(60);
  await db.pool.query(`INSERT INTO failed_records (kind) VALUES ('noop')`);
  const client = await db.pool.connect();
  try {
    await assert.rejects(claim(client, 59), (err: unknown) => err instanceof FencedError && err.storedEpoch === 60);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
  const current = await db.pool.connect();
  try {
    assert.ok((await claim(current, 60)).length >= 1);
  } finally {
    await current.query('ROLLBACK');
    current.release();
  }
});

test(
  "a new leader cannot start until the old term's open claim ends" + ", and the old leader's next claim is refused",
  async () => {
    await fence(70);
    await db.pool.query(`INSERT INTO failed_records (kind) VALUES ('noop')`);
    const old = await db.pool.connect();
    const oldNext = await db.pool.connect();
    try {
      assert.ok((await claim(old, 70)).length > 0); // the old leader's batch, still executing
      assert.deepEqual(await fence(71), { outcome: 'busy' }, 'the new leader waits while the old claim is open');
      // The new leader queues for the barrier; the old leader's next claim queues behind it (fair queue).
      const newLeader = fence(71, { lockTimeoutMs: 5_000 });
      await new Promise((r) => setTimeout(r, 100));
      const oldNextClaim = claim(oldNext, 70).then(
        () => 'claimed',
        (err: unknown) => (err instanceof FencedError ? 'fenced' : `error: ${String(err)}`),
      );
      await new Promise((r) => setTimeout(r, 100));
      await old.query('COMMIT'); // the old batch ends
      assert.deepEqual(await newLeader, { outcome: 'holding' });
      assert.equal(await oldNextClaim, 'fenced');
    } finally {
      await oldNext.query('ROLLBACK').catch(() => undefined);
      old.release();
      oldNext.release();
    }
  },
);

test("a term's recorded start is when it got the barrier, after the old term's open claim ended", async () => {
  await fence(75);
  await db.pool.query(`INSERT INTO failed_records (kind) VALUES ('noop')`);
  const old = await db.pool.connect();
  try {
    assert.ok((await claim(old, 75)).length > 0);
    const newLeader = fence(76, { lockTimeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 300)); // the new leader waits in the barrier's queue meanwhile
    const { rows } = await old.query<{ at: Date }>('SELECT clock_timestamp() AS at');
    await old.query('COMMIT');
    assert.deepEqual(await newLeader, { outcome: 'holding' });
    const { rows: term } = await db.pool.query<{ started_at: Date }>(
      'SELECT started_at FROM retry_worker_terms WHERE name = $1 AND epoch = 76',
      [name],
    );
    assert.ok(
      term[0]!.started_at >= rows[0]!.at,
      `started ${term[0]!.started_at.toISOString()}, old claim open at ${rows[0]!.at.toISOString()}`,
    );
  } finally {
    old.release();
  }
});

test(
  'claims that keep arriving while the old term holds the barrier' + ' cannot starve a new leader that stays queued',
  async () => {
    await fence(80);
    await db.pool.query(`INSERT INTO failed_records (kind) SELECT 'noop' FROM generate_series(1, 20)`);
    // The old leader keeps overlapping claims open: each holds the barrier 600 ms, a new one every 300 ms.
    const clients = await Promise.all(Array.from({ length: 8 }, () => claimers.connect()));
    let stop = false;
    const fenced: string[] = [];
    const claimer = (async () => {
      for (const client of clients) {
        if (stop) break;
        void claim(client, 80)
          .then(
            () => new Promise((r) => setTimeout(r, 600)),
            (err: unknown) => fenced.push(err instanceof FencedError ? 'fenced' : String(err)),
          )
          .finally(() => client.query('ROLLBACK').catch(() => undefined));
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    const startedAt = performance.now();
    // Queued once, for as long as its term is safe: it gets the barrier when the claims open before it end.
    const result = await fence(81, { lockTimeoutMs: 4_000 });
    const waitedMs = performance.now() - startedAt;
    stop = true;
    await claimer;
    await new Promise((r) => setTimeout(r, 700));
    for (const client of clients) client.release();
    assert.deepEqual(result, { outcome: 'holding' });
    assert.ok(waitedMs < 1_500, `the new leader waited ${Math.round(waitedMs)} ms behind claims that kept arriving`);
    assert.ok(
      fenced.length > 0 && fenced.every((f) => f === 'fenced'),
      `the old term's later claims were refused: ${fenced.join(', ')}`,
    );
  },
);

test(
  'with a short lock timeout, retrying leaves the queue' +
    ' and claims arriving meanwhile get through (why the fence waits long)',
  async () => {
    // The behaviour the fence avoids by staying queued: shown here so that the test above means something.
    await fence(90);
    const clients = await Promise.all(Array.from({ length: 8 }, () => claimers.connect()));
    let stop = false;
    const claimer = (async () => {
      for (const client of clients) {
        if (stop) break;
        void claim(client, 90)
          .then(
            () => new Promise((r) => setTimeout(r, 600)),
            () => undefined,
          )
          .finally(() => client.query('ROLLBACK').catch(() => undefined));
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    let outcome: string | undefined;
    const startedAt = performance.now();
    while (performance.now() - startedAt < 2_000) {
      outcome = (await fence(91, { lockTimeoutMs: 250 })).outcome;
      if (outcome === 'holding') break;
    }
    stop = true;
    await claimer;
    await new Promise((r) => setTimeout(r, 700));
    for (const client of clients) client.release();
    assert.equal(outcome, 'busy', 'short waits kept losing their place to the old term’s claims');
  },
);

test('a superseded leader cannot record an attempt ahead of its claim either; the current one can', async () => {
  await fence(100);
  // First in every claim's order: a kind of its own, the highest priority.
  const { rows } = await db.pool.query<{ uid: string }>(
    `INSERT INTO failed_records (kind, priority) VALUES ('ahead', -1) RETURNING uid`,
  );
  const ahead = (epoch: number, token = tokenOf(epoch)) =>
    startAttemptAhead(
      db.pool,
      { name, epoch, token, limit: 10, payloadMaxBytes: 1_000_000, lockKey, caps: new Map() },
      'test-replica',
    );
  assert.equal(await ahead(99), undefined);
  assert.equal(await ahead(100, randomUUID()), undefined, 'the same epoch with another term token');
  const written = await ahead(100);
  assert.ok(written, 'the current term records the next attempt of the first due record');
  assert.ok(written.attempt === 1 && written.recordUid === rows[0]!.uid);
  try {
    // Another due record (earlier tests left some), not the one with an attempt above its count.
    const next = await ahead(100);
    assert.ok(next && next.recordUid !== written.recordUid && next.attempt >= 1, 'the next due record is recorded');
    await db.pool.query('DELETE FROM retry_worker_attempts WHERE id = $1', [next.ledgerId]);
  } finally {
    await db.pool.query('DELETE FROM retry_worker_attempts WHERE id = $1', [written.ledgerId]);
    await db.pool.query(`UPDATE failed_records SET status = 'succeeded' WHERE uid = $1`, [rows[0]!.uid]);
  }
});

test('an attempt written ahead waits for a new term holding the barrier, sees its epoch, writes nothing', async () => {
  await fence(110);
  const { rows } = await db.pool.query<{ uid: string }>(
    `INSERT INTO failed_records (kind, priority) VALUES ('ahead', -1) RETURNING uid`,
  );
  const newTerm = await db.pool.connect();
  try {
    await newTerm.query('BEGIN');
    await newTerm.query('SELECT pg_advisory_xact_lock($1, $2)', [lockKey[0], lockKey[1]]);
    await newTerm.query('UPDATE retry_worker_leader SET epoch = 111, token = $2 WHERE name = $1', [name, tokenOf(111)]);
    const writing = startAttemptAhead(
      db.pool,
      { name, epoch: 110, token: tokenOf(110), limit: 10, payloadMaxBytes: 1_000_000, lockKey, caps: new Map() },
      'old-leader',
    );
    await new Promise((r) => setTimeout(r, 200));
    await newTerm.query('COMMIT');
    assert.equal(await writing, undefined);
  } finally {
    await newTerm.query('ROLLBACK').catch(() => undefined);
    newTerm.release();
    await db.pool.query(`UPDATE failed_records SET status = 'succeeded' WHERE uid = $1`, [rows[0]!.uid]);
  }
});
