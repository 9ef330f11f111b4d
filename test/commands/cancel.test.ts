import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { insertRecords } from '../../src/db/insert-records.js';
import { ExecutionAborted } from '../../src/errors.js';
import { cancel } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { runCli } from '../support/run-cli.js';
import { untilAborted } from '../support/until-aborted.js';
import { withWorker } from '../support/worker.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db?.drop();
});

const cli = (...args: string[]) => runCli(args, { DATABASE_URL: db.url });
const record = async (id: number) =>
  (
    await db.pool.query<{ status: string; attempts: number }>(
      'SELECT status, attempts FROM failed_records WHERE id = $1',
      [id],
    )
  ).rows[0]!;

test('cancel makes a pending record cancelled; a second cancel and an unknown id exit 3', async () => {
  const [id] = await insertRecords(db.pool, [{ kind: 'later', payload: {}, maxAttempts: null }]);
  const run = await cli('cancel', String(id), '--reason', 'duplicate order', '--actor', 'bob');
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `record ${id} cancelled\n`);
  assert.equal((await record(id!)).status, 'cancelled');
  const explained = await cli('status', '--record', String(id));
  assert.match(explained.stdout, /record \d+: cancelled\n {2}cancelled at .* by bob: duplicate order; final/);

  const again = await cli('cancel', String(id));
  assert.equal(again.code, 3);
  assert.match(again.stdout, /is cancelled already; nothing to cancel/);
  const unknown = await cli('cancel', '99999999');
  assert.equal(unknown.code, 3);
  assert.match(unknown.stdout, /no such record: 99999999/);
  assert.deepEqual(await cancel(db.pool, 99999999), { recordId: 99999999, outcome: 'not-found' });
});

test('cancel of an executing record aborts its handler (reason cancelled); it ends cancelled', async () => {
  const slow = untilAborted();
  const [id] = await insertRecords(db.pool, [{ kind: 'slow', payload: {}, maxAttempts: 3 }]);
  await withWorker(db, 'cancel-exec', { slow: slow.handler }, async () => {
    await slow.running;
    // The leader's claim holds the row: requeue and discard leave it alone and say so.
    const requeued = await cli('requeue', '--status', 'pending', '--id', String(id));
    assert.equal(requeued.code, 3, requeued.stdout + requeued.stderr);
    assert.match(requeued.stdout, new RegExp(`skipped 1 record a claim holds .*: ${id}\\n`));
    const discarded = await cli('discard', '--status', 'pending', '--id', String(id));
    assert.equal(discarded.code, 3);
    assert.match(discarded.stdout, /skipped 1 record a claim holds/);

    const run = await cli('cancel', String(id), '--actor', 'carol', '--wait', '20s');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /was executing: the leader aborted it, and it is cancelled/);
  });
  const seen = slow.reason();
  assert.ok(seen instanceof ExecutionAborted, `the handler's signal reason: ${String(seen)}`);
  assert.equal(seen.reason, 'cancelled');
  assert.deepEqual(await record(id!), { status: 'cancelled', attempts: 1 });
  const { rows: ledger } = await db.pool.query(
    'SELECT attempt, outcome FROM failed_record_attempts WHERE record_id = $1 ORDER BY attempt',
    [id],
  );
  assert.deepEqual(ledger, [{ attempt: 1, outcome: 'cancelled' }]);
  const explained = await cli('status', '--record', String(id));
  assert.match(explained.stdout, /cancelled at .* while executing \(by carol\): attempt 1 was aborted by replica/);
  assert.match(explained.stdout, /cancel-requested by carol/);
});
