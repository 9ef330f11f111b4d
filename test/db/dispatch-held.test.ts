import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { isDispatchHeld } from '../../src/db/dispatch-held.js';
import { pauseKind, resumeKind } from '../../src/db/pause-kind.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

/** A record marked as dispatched under a new token. */
async function dispatched(): Promise<{ id: number; token: string }> {
  const token = randomUUID();
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO failed_records (kind, dispatched_at, dispatch_token) VALUES ('noop', now(), $1) RETURNING id`,
    [token],
  );
  return { id: Number(rows[0]!.id), token };
}

test('isDispatchHeld: a record due under the token counts, even while another transaction locks its row', async () => {
  const { id, token } = await dispatched();
  const holder = await db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM failed_records WHERE id = $1 FOR UPDATE', [id]);
    assert.equal(await isDispatchHeld(db.pool, id, token), true);
  } finally {
    await holder.query('ROLLBACK');
    holder.release();
  }
});

test('isDispatchHeld: another token, a final record or one not due does not count (a stale copy)', async () => {
  const { id, token } = await dispatched();
  assert.equal(await isDispatchHeld(db.pool, id, randomUUID()), false);
  await db.pool.query(`UPDATE failed_records SET next_run_at = now() + interval '1 minute' WHERE id = $1`, [id]);
  assert.equal(await isDispatchHeld(db.pool, id, token), false);
  await db.pool.query(`UPDATE failed_records SET status = 'succeeded', next_run_at = now() WHERE id = $1`, [id]);
  assert.equal(await isDispatchHeld(db.pool, id, token), false);
});

test('isDispatchHeld: a record of a paused kind does not count (its message is dropped, not bounced)', async () => {
  const { id, token } = await dispatched();
  await pauseKind(db.pool, 'noop', 'test', null);
  try {
    assert.equal(await isDispatchHeld(db.pool, id, token), false);
  } finally {
    await resumeKind(db.pool, 'noop');
  }
});
