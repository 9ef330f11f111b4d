import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TestCluster } from './support/cluster.js';
import { waitFor } from './support/ports.js';

const HANDLERS = fileURLToPath(new URL('../../test/fixtures/library-errors-handlers.mjs', import.meta.url));

test(
  "a HANDLERS_MODULE's PermanentFailure and RetryLater, imported from the package" +
    ', are recognised by the command line',
  async (t) => {
    const cluster = await TestCluster.start({
      env: { ELECTION_BACKEND: 'static', LEADER_ID: 'r1', HANDLERS_MODULE: HANDLERS },
    });
    t.after(() => cluster.stop());
    const { rows: inserted } = await cluster.pool.query<{ id: number }>(
      `INSERT INTO failed_records (kind, max_attempts) VALUES ('refuse', 5), ('later', 5) RETURNING id`,
    );
    cluster.startReplica('r1');
    const [refuse, later] = inserted.map((r) => r.id);
    const rows = await waitFor('both records to be attempted', async () => {
      const { rows: r } = await cluster.pool.query<{ id: number; status: string; attempts: number; delayS: number }>(
        `SELECT id, status, attempts, extract(epoch FROM next_run_at - now())::float8 AS "delayS"` +
          ` FROM failed_records WHERE id = ANY($1)`,
        [[refuse, later]],
      );
      return r.every((x) => x.attempts >= 1) ? r : undefined;
    });
    const byId = new Map(rows.map((r) => [r.id, r]));
    assert.deepEqual(
      { status: byId.get(refuse!)!.status, attempts: byId.get(refuse!)!.attempts },
      { status: 'dead', attempts: 1 },
      'a permanent failure is dead at once, with attempts to spare',
    );
    assert.equal(byId.get(later!)!.status, 'pending');
    assert.ok(
      byId.get(later!)!.delayS > 3_000,
      `RetryLater's hour is honoured (next run in ${byId.get(later!)!.delayS} s)`,
    );
  },
);

test(
  'a HANDLERS_MODULE whose top-level code never finishes fails start-up' + ', naming the setting, instead of hanging',
  async () => {
    const { loadHandlersModule } = await import('../src/executor/load-handlers.js');
    const { ConfigError } = await import('../src/errors.js');
    const never = fileURLToPath(new URL('../../test/fixtures/never-loads-handlers.mjs', import.meta.url));
    const started = Date.now();
    await assert.rejects(
      loadHandlersModule(never, 300),
      (err: unknown) =>
        err instanceof ConfigError && err.variable === 'HANDLERS_MODULE' && /timed out after 300 ms/.test(err.message),
    );
    assert.ok(Date.now() - started < 2_000);
  },
);
