import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { numberArray, textArray, wordArray } from '../../src/db/array-literal.js';
import { completeRecords } from '../../src/db/complete-records.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('rw_arrays');
});
after(() => db.drop());

test('array literals round-trip through Postgres: numbers up to 2^53 - 1 and status words', async () => {
  const client = await db.pool.connect();
  try {
    const { rows } = await client.query<{ n: string[]; w: string[] }>(`SELECT $1::bigint[]::text[] AS n, $2::text[] AS w`, [numberArray([1, 2, 9007199254740991]), wordArray(['succeeded', 'pending', 'dead'])]);
    assert.deepEqual(rows[0]!.n, ['1', '2', '9007199254740991']);
    assert.deepEqual(rows[0]!.w, ['succeeded', 'pending', 'dead']);
  } finally {
    client.release();
  }
});

test('text array literals round-trip through Postgres: NULLs and text that needs quoting', async () => {
  const values = [null, '', 'NULL', 'plain', 'a,b', '{braces}', 'say "hi"', 'back\\slash\\', ' spaced ', 'é ✓ \n newline', null];
  const { rows } = await db.pool.query<{ t: (string | null)[]; nulls: number }>(`SELECT $1::text[] AS t, cardinality(array_positions($1::text[], NULL)) AS nulls`, [textArray(values)]);
  assert.deepEqual(rows[0]!.t, values);
  assert.equal(rows[0]!.nulls, 2, 'NULL elements are NULL, the string NULL is text');
  // An error message that is not a string at run time (a handler set a number) is written as its text.
  const { rows: odd } = await db.pool.query<{ t: string[] }>(`SELECT $1::text[] AS t`, [textArray([42 as unknown as string])]);
  assert.deepEqual(odd[0]!.t, ['42']);
});

test('completeRecords writes each outcome from its literal arrays, error text intact, only on rows still pending', async () => {
  const { rows: ids } = await db.pool.query<{ id: number }>(`INSERT INTO failed_records (kind, payload) SELECT 'x', '{}' FROM generate_series(1, 3) RETURNING id`);
  const [a, b, c] = ids.map((r) => r.id);
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT id FROM failed_records FOR UPDATE');
    const changed = await completeRecords(client, [
      { id: a!, status: 'succeeded', attempts: 1, delayMs: 0, lastError: null },
      { id: b!, status: 'pending', attempts: 1, delayMs: 60_000, lastError: `it said "no" \\ o'clock` },
      { id: c!, status: 'dead', attempts: 3, delayMs: 0, lastError: 'gone {for good}' },
    ]);
    assert.equal(changed, 3);
    assert.equal(await completeRecords(client, [{ id: a!, status: 'dead', attempts: 2, delayMs: 0, lastError: 'late' }]), 0, 'a settled row is not rewritten');
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  const { rows } = await db.pool.query<{ id: number; status: string; attempts: number; last_error: string | null; later: boolean }>(
    `SELECT id, status, attempts, last_error, next_run_at > now() + interval '50 seconds' AS later FROM failed_records ORDER BY id`,
  );
  assert.deepEqual(rows.map((r) => [r.status, r.attempts, r.last_error]), [['succeeded', 1, null], ['pending', 1, `it said "no" \\ o'clock`], ['dead', 3, 'gone {for good}']]);
  assert.equal(rows[1]!.later, true);
});
