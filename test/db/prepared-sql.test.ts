import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PreparedSql } from '../../src/db/prepared-sql.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

test('a statement is prepared once per connection, and outlives a rolled-back transaction', async () => {
  const twice = new PreparedSql('test_twice', ['int'], 'SELECT $1::int * 2 AS n');
  const first = await db.pool.connect();
  const second = await db.pool.connect();
  try {
    await first.query('BEGIN');
    await twice.prepareOn(first);
    await first.query('ROLLBACK');
    // Prepared again, Postgres would refuse it: "prepared statement already exists".
    await twice.prepareOn(first);
    const [, result] = (await first.query(`BEGIN; ${twice.execute(['21'])}; COMMIT`)) as unknown as {
      rows: { n: number }[];
    }[];
    assert.deepEqual(result!.rows, [{ n: 42 }]);
    await twice.prepareOn(second);
    assert.deepEqual((await second.query(twice.execute(['4']))).rows, [{ n: 8 }]);
  } finally {
    first.release(true);
    second.release(true);
  }
});

test('a connection whose PREPARE failed prepares it on its next use', async () => {
  const late = new PreparedSql('test_late', ['int'], 'SELECT n FROM test_late_table WHERE n = $1');
  const client = await db.pool.connect();
  try {
    await assert.rejects(late.prepareOn(client), /test_late_table/);
    await client.query('CREATE TABLE test_late_table (n int)');
    await late.prepareOn(client);
    assert.deepEqual((await client.query(late.execute(['1']))).rows, []);
  } finally {
    client.release(true);
  }
});
