import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { AttemptRecorder } from '../src/attempt-recorder.js';
import type { FinishedAttempt } from '../src/db/finish-attempts.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

/** Ledger rows of fresh records, as a batch's ledger insert writes them. */
async function ledgerRows(count: number): Promise<number[]> {
  const { rows } = await db.pool.query<{ id: number }>(
    `WITH r AS (INSERT INTO failed_records (kind) SELECT 'noop' FROM generate_series(1, $1::int) RETURNING id)
     INSERT INTO retry_worker_attempts (record_id, attempt, epoch, replica_id) SELECT id, 1, 1, 'r1' FROM r RETURNING id`,
    [count],
  );
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

async function stored(ids: number[]): Promise<(string | null)[]> {
  const { rows } = await db.pool.query<{ outcome: string | null }>('SELECT outcome FROM retry_worker_attempts WHERE id = ANY($1) ORDER BY id', [ids]);
  return rows.map((r) => r.outcome);
}

const outcome = (ledgerId: number, kind: FinishedAttempt['outcome'] = 'succeeded'): FinishedAttempt => ({ ledgerId, outcome: kind, error: kind === 'failed' ? 'boom' : null, finishedAt: Date.now() });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a batch takes back only its own successes; they are not written once its COMMIT returned", async () => {
  const recorder = new AttemptRecorder(db.pool, pino({ level: 'silent' }));
  const [mine1, mine2, myFailure, theirs] = await ledgerRows(4);
  const batch = {};
  recorder.record(outcome(mine1!), batch);
  recorder.record(outcome(mine2!), batch);
  recorder.record(outcome(myFailure!, 'failed'), batch);
  recorder.record(outcome(theirs!), {});
  const taken = recorder.takeBack(batch);
  taken.settled(true);
  await recorder.flush();
  await sleep(250); // past the commit grace: nothing is recorded late
  await recorder.flush();
  assert.deepEqual(await stored([mine1!, mine2!, myFailure!, theirs!]), [null, null, 'failed', 'succeeded']);
});

test('taken-back successes are recorded when the COMMIT failed, and when it has not returned within the grace', async () => {
  const recorder = new AttemptRecorder(db.pool, pino({ level: 'silent' }));
  const [failed, slow] = await ledgerRows(2);
  const failedBatch = {};
  const slowBatch = {};
  recorder.record(outcome(failed!), failedBatch);
  recorder.record(outcome(slow!), slowBatch);
  recorder.takeBack(failedBatch).settled(false);
  const slowCommit = recorder.takeBack(slowBatch);
  await recorder.flush();
  assert.deepEqual(await stored([failed!, slow!]), ['succeeded', null], 'a failed COMMIT records at once; a slow one not yet');
  await sleep(250);
  await recorder.flush();
  assert.deepEqual(await stored([slow!]), ['succeeded'], 'a COMMIT slower than the grace: recorded meanwhile');
  slowCommit.settled(true); // returning late changes nothing
  await recorder.flush();
  assert.deepEqual(await stored([slow!]), ['succeeded']);
});
