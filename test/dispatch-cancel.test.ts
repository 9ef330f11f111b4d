import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { insertRecords } from '../src/db/insert-records.js';
import { ExecutionAborted } from '../src/errors.js';
import { waitFor } from './support/ports.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { createVhost, type RabbitVhost, rabbitUnavailable } from './support/rabbitmq.js';
import { runCli } from './support/run-cli.js';
import { untilAborted } from './support/until-aborted.js';
import { withWorker } from './support/worker.js';

const unavailable = await rabbitUnavailable();
let db: TestDatabase;
let vhost: RabbitVhost;
before(async () => {
  if (unavailable) return;
  [db, vhost] = await Promise.all([createTestDatabase(), createVhost('rw-cancel')]);
});
after(async () => {
  await db?.drop();
  await vhost?.drop();
});

test('dispatch mode: cancel of a record a consumer executes aborts its handler; it ends cancelled', {
  skip: unavailable,
}, async () => {
  const slow = untilAborted();
  const [id] = await insertRecords(db.pool, [{ kind: 'slow', payload: {}, maxAttempts: 3 }]);
  await withWorker(
    db,
    'dispatch-cancel',
    { slow: slow.handler },
    async () => {
      await slow.running;
      const run = await runCli(['cancel', String(id), '--actor', 'dave', '--wait', '20s'], { DATABASE_URL: db.url });
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /was executing: the leader aborted it, and it is cancelled/);
    },
    { settings: { executionMode: 'dispatch', amqpUrl: vhost.url } },
  );
  const seen = slow.reason();
  assert.ok(seen instanceof ExecutionAborted, `the handler's signal reason: ${String(seen)}`);
  assert.equal(seen.reason, 'cancelled');
  const { rows } = await db.pool.query('SELECT status, attempts FROM failed_records WHERE id = $1', [id]);
  assert.deepEqual(rows, [{ status: 'cancelled', attempts: 1 }]);
  const { rows: ledger } = await db.pool.query(
    'SELECT attempt, outcome FROM failed_record_attempts WHERE record_id = $1 ORDER BY attempt',
    [id],
  );
  assert.deepEqual(ledger, [{ attempt: 1, outcome: 'cancelled' }]);
});

test('dispatch mode: a handler that blocks the event loop past the row-lock margin aborts the others as stalled', {
  skip: unavailable,
}, async () => {
  const waiting = untilAborted();
  await insertRecords(db.pool, [{ kind: 'wait', payload: {}, maxAttempts: 3 }]);
  const run = await withWorker(
    db,
    'dispatch-stall',
    {
      wait: waiting.handler,
      block: async () => {
        const until = Date.now() + 2_000; // over the margin (1.25 s at the default TTL)
        while (Date.now() < until) {
          // blocks
        }
      },
    },
    async (r) => {
      await waiting.running;
      await insertRecords(db.pool, [{ kind: 'block', payload: {}, maxAttempts: 1 }]);
      await waitFor(
        'the stall to be noticed',
        () => r.logs.find((l) => String(l.msg).startsWith('the event loop stalled')),
        15_000,
      );
      await waitFor('the waiting handler to be aborted', () => waiting.reason() ?? undefined, 5_000);
    },
    { settings: { executionMode: 'dispatch', amqpUrl: vhost.url } },
  );
  const seen = waiting.reason();
  // Without the consumer's own watch, the claim session's deadline would abort it later, as rows-uncertain.
  assert.ok(seen instanceof ExecutionAborted && seen.reason === 'stalled', `${String(seen)}\n${run.text()}`);
});
