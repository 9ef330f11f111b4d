import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { claimAndStartAttempts } from '../src/db/claim-and-start-attempts.js';
import { claimRecords } from '../src/db/claim-records.js';
import { fenceTerm } from '../src/db/fence-term.js';
import { termLockKey } from '../src/db/term-lock.js';
import { FencedError } from '../src/errors.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

const name = 'fence-test';
const lockKey = termLockKey(name);
const fence = (epoch: number, lockTimeoutMs = 200) => fenceTerm(db.pool, { name, epoch, holder: `leader-${epoch}`, backend: 'test', lockKey, lockTimeoutMs, timeoutMs: 10_000 });
const claim = (client: pg.ClientBase, epoch: number) => claimRecords(client, { name, epoch, limit: 10, defaultMaxAttempts: 3, lockKey });
const claimAndStart = (client: pg.ClientBase, epoch: number) => claimAndStartAttempts(client, { name, epoch, limit: 10, defaultMaxAttempts: 3, lockKey, replicaId: `leader-${epoch}` });

test('the stored epoch only grows: a lower or equal epoch is superseded', async () => {
  assert.deepEqual(await fence(10), { outcome: 'fenced' });
  assert.deepEqual(await fence(9), { outcome: 'superseded', storedEpoch: 10 });
  assert.deepEqual(await fence(10), { outcome: 'superseded', storedEpoch: 10 });
  assert.deepEqual(await fence(11), { outcome: 'fenced' });
});

test("a paused leader's open claim is ended by Postgres after idle_in_transaction_session_timeout, freeing the barrier", async () => {
  await fence(40);
  const { createPool } = await import('../src/db/pool.js');
  const pausedPool = createPool({ databaseUrl: db.url, max: 1, applicationName: 'paused', idleInTransactionTimeoutMs: 500, onError: () => undefined });
  try {
    const paused = await pausedPool.connect();
    await claim(paused, 40);
    assert.deepEqual(await fence(41), { outcome: 'busy' });
    await new Promise((r) => setTimeout(r, 800)); // the leader sends nothing: it is "paused"
    assert.deepEqual(await fence(41), { outcome: 'fenced' });
    paused.release(true);
  } finally {
    await pausedPool.end();
  }
});

test('fencing records the term, closes the open one it supersedes, and a refused epoch records nothing', async () => {
  assert.deepEqual(await fence(50), { outcome: 'fenced' });
  assert.deepEqual(await fence(51), { outcome: 'fenced' });
  assert.deepEqual(await fence(49), { outcome: 'superseded', storedEpoch: 51 });
  const { rows } = await db.pool.query<{ epoch: number; holder: string; backend: string; reason: string | null; ended: boolean }>(
    `SELECT epoch, holder, backend, end_reason AS reason, ended_at IS NOT NULL AS ended FROM retry_worker_terms WHERE name = $1 AND epoch >= 49 ORDER BY epoch`,
    [name],
  );
  assert.deepEqual(rows, [
    { epoch: 50, holder: 'leader-50', backend: 'test', reason: 'superseded', ended: true },
    { epoch: 51, holder: 'leader-51', backend: 'test', reason: null, ended: false },
  ]);
  const { rows: leader } = await db.pool.query<{ epoch: number; holder: string }>('SELECT epoch, holder FROM retry_worker_leader WHERE name = $1', [name]);
  assert.deepEqual(leader, [{ epoch: 51, holder: 'leader-51' }]);
});

// Both claims: claimRecords, and claimAndStartAttempts, which records the attempts in the same round trip and
// holds the barrier at session level for part of it.
const claimers = {
  claimRecords: async (client: pg.ClientBase, epoch: number) => (await claim(client, epoch)).length,
  claimAndStartAttempts: async (client: pg.ClientBase, epoch: number) => (await claimAndStart(client, epoch)).records.length,
};

for (const [claimer, claimed] of Object.entries(claimers)) {
  const base = claimer === 'claimRecords' ? 60 : 90;

  test(`${claimer}: a superseded leader cannot claim, even with due rows`, async () => {
    await fence(base);
    await db.pool.query(`INSERT INTO failed_records (kind) VALUES ('noop')`);
    const client = await db.pool.connect();
    try {
      await assert.rejects(claimed(client, base - 1), (err: unknown) => err instanceof FencedError && err.storedEpoch === base);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    const current = await db.pool.connect();
    try {
      assert.ok((await claimed(current, base)) >= 1);
    } finally {
      await current.query('ROLLBACK');
      current.release();
    }
  });

  test(`${claimer}: a new leader cannot start until the old term's open claim ends, and the old leader's next claim is refused`, async () => {
    await fence(base + 10);
    await db.pool.query(`INSERT INTO failed_records (kind) VALUES ('noop')`);
    const old = await db.pool.connect();
    const oldNext = await db.pool.connect();
    try {
      assert.ok((await claimed(old, base + 10)) > 0); // the old leader's batch, still executing
      assert.deepEqual(await fence(base + 11), { outcome: 'busy' }, 'the new leader waits while the old claim is open');

      // The new leader queues for the barrier; the old leader's next claim queues behind it (fair queue).
      const newLeader = fence(base + 11, 5_000);
      await new Promise((r) => setTimeout(r, 100));
      const oldNextClaim = claimed(oldNext, base + 10).then(
        () => 'claimed',
        (err: unknown) => (err instanceof FencedError ? 'fenced' : `error: ${String(err)}`),
      );
      await new Promise((r) => setTimeout(r, 100));
      await old.query('COMMIT'); // the old batch ends
      assert.deepEqual(await newLeader, { outcome: 'fenced' });
      assert.equal(await oldNextClaim, 'fenced');
    } finally {
      await oldNext.query('ROLLBACK').catch(() => undefined);
      old.release();
      oldNext.release();
    }
  });
}

const advisoryLocks = async (pid: number) =>
  (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 AND granted`, [pid])).rows[0]!.n;

test('claimAndStartAttempts holds the barrier only in its claim transaction: none of it is left at session level', async () => {
  await fence(110);
  await db.pool.query(`INSERT INTO failed_records (kind) VALUES ('noop')`);
  const client = await db.pool.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const pid = rows[0]!.pid;
    assert.ok((await claimAndStart(client, 110)).records.length >= 1, 'records were claimed');
    assert.equal(await advisoryLocks(pid), 1, 'the open claim holds the barrier');
    // Were the session-level hold not released, it would outlive the transaction and block every new leader.
    await client.query('ROLLBACK');
    assert.equal(await advisoryLocks(pid), 0, 'the barrier is free once the claim transaction ends');
    assert.deepEqual(await fence(111), { outcome: 'fenced' });
    await assert.rejects(claimAndStart(client, 110), FencedError);
    await client.query('ROLLBACK');
    assert.equal(await advisoryLocks(pid), 0, 'a fenced claim leaves nothing held either');
  } finally {
    client.release();
  }
});
