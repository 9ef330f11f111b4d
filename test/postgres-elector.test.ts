import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { candidate as hold } from './support/candidate.js';
import { makeElector } from './support/elector.js';
import { waitFor } from './support/ports.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('rw_pgelect');
});
after(() => db.drop());

let names = 0;

const elector = (electionName: string, id: string, leaseTtlSeconds = 2) =>
  makeElector(db.pool, {
    databaseUrl: db.url,
    electionBackend: 'postgres',
    electionName,
    leaseTtlSeconds,
    replicaId: id,
  });

/** An elector that records its terms and holds each until it ends. */
async function candidate(electionName: string, id: string, leaseTtlSeconds = 2) {
  return hold(id, await elector(electionName, id, leaseTtlSeconds));
}

async function leaseRow(name: string) {
  const { rows } = await db.pool.query<{ holder: string | null; epoch: number; expired: boolean }>(
    'SELECT holder, epoch, expires_at <= clock_timestamp() AS expired FROM retry_worker_lease WHERE name = $1',
    [name],
  );
  return rows[0];
}

test('followers hear the release at once (LISTEN), long before their next poll', async () => {
  const name = `p${names++}`;
  const a = await candidate(name, 'a', 30); // followers poll every 10 s
  try {
    await waitFor('a leads', () => a.leading() || undefined);
    const b = await candidate(name, 'b', 30);
    try {
      await new Promise((r) => setTimeout(r, 500)); // b has lost its first attempt and is listening
      assert.equal(b.leading(), false);
      const resignedAt = Date.now();
      await a.elector.stop();
      await waitFor('b leads', () => b.leading() || undefined, 3_000);
      assert.ok(Date.now() - resignedAt < 1_000, `handover took ${Date.now() - resignedAt} ms`);
      assert.ok(b.terms[0]!.epoch > a.terms[0]!.epoch);
    } finally {
      await b.elector.stop();
    }
  } finally {
    await a.elector.stop();
  }
});

test('a lease expired in the database ends the term (lease-expired); the next term has a higher epoch', async () => {
  const name = `p${names++}`;
  const cs = await Promise.all(['a', 'b'].map((id) => candidate(name, id)));
  try {
    const first = await waitFor('a leader', () => cs.find((c) => c.leading()));
    const term = first.live()!;
    await db.pool.query(
      `UPDATE retry_worker_lease SET expires_at = clock_timestamp() - interval '1 second' WHERE name = $1`,
      [name],
    );
    await waitFor('term ended', () => term.signal.aborted || undefined, 5_000);
    assert.equal(term.endReason, 'lease-expired');
    assert.equal(term.isSafe(), false);
    const next = await waitFor('a new term', () => cs.map((c) => c.live()).find((t) => t !== undefined));
    assert.ok(next.epoch > term.epoch, `${next.epoch} > ${term.epoch}`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(cs.filter((c) => c.leading()).length, 1);
  } finally {
    await Promise.all(cs.map((c) => c.elector.stop()));
  }
});

test('renewals that hang end the term by its deadline; once the database answers, a new term follows', async () => {
  const name = `p${names++}`;
  const a = await candidate(name, 'a');
  const blocker = await db.pool.connect();
  try {
    await waitFor('a leads', () => a.leading() || undefined);
    const term = a.terms[0]!;
    // Hold the lease row's lock: every renewal blocks until its statement timeout.
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM retry_worker_lease WHERE name = $1 FOR UPDATE', [name]);
    await waitFor('term ended', () => term.signal.aborted || undefined, 5_000);
    assert.equal(term.endReason, 'deadline');
    assert.equal(term.isSafe(), false);
    await blocker.query('ROLLBACK');
    await waitFor('leads again', () => (a.terms.length === 2 && a.leading()) || undefined);
    assert.ok(a.terms[1]!.epoch > term.epoch);
  } finally {
    await blocker.query('ROLLBACK').catch(() => undefined);
    blocker.release();
    await a.elector.stop();
  }
});

test('a crashed leader (no release, no renewals) is replaced once its lease expires', async () => {
  const name = `p${names++}`;
  // Stand in for a leader that died holding the lease: a live row of a replica that never renews it.
  await db.pool.query(
    `INSERT INTO retry_worker_lease (name, holder, epoch, expires_at)` +
      ` VALUES ($1, 'dead', 7, clock_timestamp() + interval '1500 milliseconds')`,
    [name],
  );
  const b = await candidate(name, 'b');
  try {
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(b.leading(), false, 'the lease was taken before it expired');
    await waitFor('b leads', () => b.leading() || undefined, 5_000);
    assert.ok(b.terms[0]!.epoch > 7);
  } finally {
    await b.elector.stop();
  }
});

test('the first epoch is above the fence epoch another backend left behind', async () => {
  const name = `p${names++}`;
  await db.pool.query(`INSERT INTO retry_worker_leader (name, epoch, holder) VALUES ($1, 1000, 'etcd-leader')`, [name]);
  const a = await candidate(name, 'a');
  try {
    await waitFor('a leads', () => a.leading() || undefined);
    assert.ok(a.terms[0]!.epoch > 1000);
  } finally {
    await a.elector.stop();
  }
});

test('stop() is safe before start() and twice; it releases the lease', async () => {
  const e = await elector('never', 'x');
  await e.stop();
  await e.stop();
  e.start(async () => assert.fail('started after stop'));
  await e.stop();
  assert.equal(await leaseRow('never'), undefined);

  const name = `p${names++}`;
  const c = await candidate(name, 'y');
  await waitFor('leads', () => c.leading() || undefined);
  await c.elector.stop();
  await c.elector.stop();
  assert.equal(c.terms[0]!.endReason, 'resigned');
  const row = await leaseRow(name);
  assert.equal(row?.expired, true);
  assert.equal(row?.epoch, c.terms[0]!.epoch);
});
