import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { validate, version } from 'uuid';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

/** The Unix time in ms that a version 7 uuid carries in its first 48 bits. */
const timeOf = (uid: string) => Number.parseInt(uid.replace(/-/g, '').slice(0, 12), 16);

test('a new record gets a version 7 uid carrying the time it was inserted, so uids follow insert order', async () => {
  const uids: string[] = [];
  const insertedFrom = Date.now();
  for (let i = 0; i < 3; i++) {
    const { rows } = await db.pool.query<{ uid: string }>(
      `INSERT INTO failed_records (kind) VALUES ('noop') RETURNING uid`,
    );
    uids.push(rows[0]!.uid);
    await sleep(3); // a new millisecond: within one, version 7's ordering is random
  }
  const afterwards = Date.now();
  for (const uid of uids) {
    assert.ok(validate(uid), uid);
    assert.equal(version(uid), 7, uid);
    assert.match(uid, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/); // RFC 9562 variant
    assert.ok(timeOf(uid) >= insertedFrom - 1000 && timeOf(uid) <= afterwards + 1000, `${uid}: ${timeOf(uid)}`);
  }
  assert.deepEqual([...uids].sort(), uids);

  // A bulk insert in one statement: every uid distinct, and their times never go back as the ids go up.
  const { rows } = await db.pool.query<{ uid: string; id: number }>(
    `INSERT INTO failed_records (kind) SELECT 'noop' FROM generate_series(1, 5000) RETURNING id, uid`,
  );
  assert.equal(new Set(rows.map((r) => r.uid)).size, rows.length);
  const byId = [...rows].sort((a, b) => Number(a.id) - Number(b.id));
  for (let i = 1; i < byId.length; i++) assert.ok(timeOf(byId[i]!.uid) >= timeOf(byId[i - 1]!.uid));
});
