import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TestCluster } from './support/cluster.js';
import { waitFor } from './support/ports.js';

const HANDLERS = fileURLToPath(new URL('../../test/fixtures/crash-handlers.mjs', import.meta.url));

test('a record whose handler kills its executor ends dead after max_attempts instead of looping', async (t) => {
  const cluster = await TestCluster.start({ env: { LEASE_TTL_SECONDS: '2', HANDLERS_MODULE: HANDLERS } });
  t.after(() => cluster.stop());
  const { rows } = await cluster.pool.query<{ id: number; kind: string }>(
    `INSERT INTO failed_records (kind, max_attempts) VALUES ('crash', 3), ('noop', NULL) RETURNING id, kind`,
  );
  const crashId = rows.find((r) => r.kind === 'crash')!.id;
  // A supervisor, as in production: a replica that dies is started again.
  let started = 0;
  const supervise = () => {
    while (cluster.replicas.filter((r) => r.alive).length < 2) cluster.startReplica(`r${started++}`);
  };
  const timer = setInterval(supervise, 100);
  t.after(() => clearInterval(timer));
  supervise();

  const record = await waitFor(
    'the crashing record to settle',
    async () => {
      const { rows: r } = await cluster.pool.query<{ status: string; attempts: number; last_error: string }>(
        'SELECT status, attempts, last_error FROM failed_records WHERE id = $1',
        [crashId],
      );
      return r[0]!.status === 'pending' ? undefined : r[0];
    },
    60_000,
    100,
  );
  clearInterval(timer);
  assert.equal(record.status, 'dead');
  assert.equal(record.attempts, 3);
  assert.match(
    record.last_error,
    /attempts exhausted: attempt 3 of 3 started and never finished \(its executor stopped\)/,
  );
  const { rows: ledger } = await cluster.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM failed_record_attempts WHERE record_id = $1',
    [crashId],
  );
  assert.equal(ledger[0]!.n, 3, 'three attempts were started, no more');
  const killed = cluster.replicas.filter((r) => !r.alive).length;
  assert.equal(killed, 3, 'each attempt killed its executor');
  await cluster.waitUntilSettled();
});
