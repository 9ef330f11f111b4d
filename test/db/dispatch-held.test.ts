import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { dispatchHeld } from '../../src/db/dispatch-held.js';
import { pauseKind, resumeKind } from '../../src/db/pause-kind.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;

/** Whether dispatchHeld counts the message (id, token) as held, asked alone. */
const isHeld = async (id: number, token: string) => (await dispatchHeld(db.pool, [{ id, token }])).size === 1;
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

test('dispatchHeld: a record due under the token counts, even while another transaction locks its row', async () => {
  const { id, token } = await dispatched();
  const holder = await db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM failed_records WHERE id = $1 FOR UPDATE', [id]);
    assert.equal(await isHeld(id, token), true);
  } finally {
    await holder.query('ROLLBACK');
    holder.release();
  }
});

test('dispatchHeld: another token, a final record or one not due does not count (a stale copy)', async () => {
  const { id, token } = await dispatched();
  assert.equal(await isHeld(id, randomUUID()), false);
  await db.pool.query(`UPDATE failed_records SET next_run_at = now() + interval '1 minute' WHERE id = $1`, [id]);
  assert.equal(await isHeld(id, token), false);
  await db.pool.query(`UPDATE failed_records SET status = 'succeeded', next_run_at = now() WHERE id = $1`, [id]);
  assert.equal(await isHeld(id, token), false);
});

test('dispatchHeld: a record of a paused kind does not count (its message is dropped, not bounced)', async () => {
  const { id, token } = await dispatched();
  await pauseKind(db.pool, 'noop', 'test', null);
  try {
    assert.equal(await isHeld(id, token), false);
  } finally {
    await resumeKind(db.pool, 'noop');
  }
});

test('dispatchHeld answers for a whole group at once, naming the held messages only', async () => {
  const [held, stale, done] = [await dispatched(), await dispatched(), await dispatched()];
  await db.pool.query(`UPDATE failed_records SET status = 'succeeded' WHERE id = $1`, [done.id]);
  const answer = await dispatchHeld(db.pool, [held, { id: stale.id, token: randomUUID() }, done]);
  assert.deepEqual([...answer], [`${held.id} ${held.token}`]);
  assert.deepEqual([...(await dispatchHeld(db.pool, []))], []);
});
