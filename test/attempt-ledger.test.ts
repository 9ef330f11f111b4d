import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { safeClock } from '../src/clock.js';
import { AttemptLedger } from '../src/loop/attempt-ledger.js';
import { DatabaseContact } from '../src/loop/database-contact.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

// The ledger's outcome writes, against a real Postgres.

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

test('flush() waits for the outcomes queued before it, not for a stream of later ones', async () => {
  const clock = safeClock();
  const contact = new DatabaseContact(clock, 10_000, () => undefined);
  const ledger = new AttemptLedger(db.pool, 1, 'flush-test', 5_000, pino({ level: 'silent' }), contact, clock);
  // One outcome every turn of the event loop: every write ends with more queued behind it, as under a retry
  // storm on a busy leader. (Ledger ids that match no row: each write is a real UPDATE that changes nothing.)
  let feeding = true;
  let id = 1;
  const feed = () => {
    if (!feeding) return;
    ledger.finish({ ledgerId: id++, outcome: 'failed', error: 'x', finishedAt: Date.now() });
    setImmediate(feed);
  };
  feed();
  let flushed = false;
  const flushing = ledger.flush().then(() => {
    flushed = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const flushedWhileFeeding = flushed;
  feeding = false;
  await flushing;
  contact.stop();
  assert.ok(id > 100, `the feed queued ${id - 1} outcomes`);
  assert.ok(flushedWhileFeeding, 'flush() resolved only once the stream of later outcomes stopped');
});
