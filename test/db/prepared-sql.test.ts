import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { PreparedSql } from '../../src/db/prepared-sql.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

type Results = { rows: { n: number }[] }[];

/** Counts the PREPAREs sent on `client`. */
function countPrepares(client: pg.PoolClient): () => number {
  let prepares = 0;
  const query = client.query.bind(client) as (text: string) => Promise<unknown>;
  (client as unknown as { query: (text: string) => Promise<unknown> }).query = (text: string) => {
    if (text.startsWith('PREPARE')) prepares++;
    return query(text);
  };
  return () => prepares;
}

test('a statement is prepared once per connection, and outlives a rolled-back transaction', async () => {
  const twice = new PreparedSql('test_twice', ['int'], 'SELECT $1::int * 2 AS n');
  const first = await db.pool.connect();
  const second = await db.pool.connect();
  try {
    const prepares = countPrepares(first);
    await twice.query(first, `BEGIN; ${twice.execute(['1'])}`);
    await first.query('ROLLBACK');
    const [, doubled] = await twice.query<Results>(first, `BEGIN; ${twice.execute(['21'])}; COMMIT`);
    assert.deepEqual(doubled!.rows, [{ n: 42 }]);
    assert.equal(prepares(), 1);
    assert.deepEqual((await twice.query<Results[number]>(second, twice.execute(['4']))).rows, [{ n: 8 }]);
  } finally {
    first.release(true);
    second.release(true);
  }
});

test('a connection whose PREPARE failed prepares it on its next use', async () => {
  const late = new PreparedSql('test_late', ['int'], 'SELECT n FROM test_late_table WHERE n = $1');
  const client = await db.pool.connect();
  try {
    await assert.rejects(late.query(client, late.execute(['1'])), /test_late_table/);
    await client.query('CREATE TABLE test_late_table (n int)');
    assert.deepEqual((await late.query<Results[number]>(client, late.execute(['1']))).rows, []);
  } finally {
    client.release(true);
  }
});

test('a ROLLBACK sent while the PREPARE is unanswered comes after the statement, not between them', async () => {
  const barrier = new PreparedSql('test_barrier', ['int'], 'SELECT $1::int AS n');
  const client = await db.pool.connect();
  try {
    // A caller that stopped waiting (a timeout) while its connection's first PREPARE was in flight.
    const abandoned = barrier.query(
      client,
      `BEGIN; SELECT pg_advisory_xact_lock_shared(7, 8); ${barrier.execute(['1'])}`,
    );
    await client.query('ROLLBACK');
    await abandoned;
    const { rows } = await db.pool.query<{ held: number }>(
      `SELECT count(*)::int AS held FROM pg_locks WHERE locktype = 'advisory' AND classid = 7 AND objid = 8`,
    );
    assert.equal(rows[0]!.held, 0, 'the transaction the statement opened was left open, holding the barrier');
  } finally {
    client.release(true);
  }
});
