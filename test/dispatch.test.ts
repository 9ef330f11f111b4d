import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestCluster } from './support/cluster.js';
import { waitFor } from './support/ports.js';
import { createVhost, type RabbitVhost, rabbitUnavailable } from './support/rabbitmq.js';
import type { LogLine, Replica } from './support/replica.js';
import { checkEvidence } from './support/sink.js';

const skip = await rabbitUnavailable();
const isDispatching = (l: LogLine) => l.msg === 'leading: this replica now dispatches failed records';

/** The live replica that logged, at or after `notBefore`, that it dispatches. */
function waitForDispatcher(replicas: readonly Replica[], notBefore = 0): Promise<Replica> {
  return waitFor('a replica to dispatch', () =>
    replicas.find((r) => r.alive && r.logs.some((l) => isDispatching(l) && l.time >= notBefore)),
  );
}

function assertSafe(cluster: TestCluster): void {
  const evidence = checkEvidence(cluster.sink.executions);
  assert.deepEqual(evidence.overlaps, [], 'two executions of one record overlapped');
  assert.deepEqual(evidence.termOverlaps, [], 'executions under two epochs overlapped');
  assert.deepEqual(
    cluster.sink.executions.filter((e) => e.refused),
    [],
    'a fencing token reached the sink out of order',
  );
}

/** Every record's ledger agrees with its row: one ledger row per counted attempt, each with an outcome. */
async function assertLedgerConsistent(cluster: TestCluster): Promise<void> {
  const { rows } = await cluster.pool.query<{ id: number; attempts: number; ledger: number; open: number }>(
    `SELECT f.id, f.attempts, count(a.*)::int AS ledger, count(a.*) FILTER (WHERE a.outcome IS NULL)::int AS open
     FROM failed_records f LEFT JOIN failed_record_attempts a ON a.record_uid = f.uid
     GROUP BY f.id, f.attempts`,
  );
  for (const r of rows) {
    assert.equal(r.ledger, r.attempts, `record ${r.id}: ${r.ledger} ledger rows for ${r.attempts} attempts`);
  }
}

describe('dispatch mode (RabbitMQ)', { skip, concurrency: false }, () => {
  let vhost: RabbitVhost;
  before(async () => {
    vhost = await createVhost('rw-dispatch');
  });
  after(() => vhost?.drop());

  const start = async (env: Record<string, string> = {}) =>
    TestCluster.start({
      env: {
        EXECUTION_MODE: 'dispatch',
        AMQP_URL: vhost.url,
        ELECTION_BACKEND: 'postgres',
        LEASE_TTL_SECONDS: '2',
        CONCURRENCY: '5',
        DISPATCH_REDELIVER_AFTER_MS: '5000',
        ...env,
      },
    });

  test('three replica processes execute every record once at a time, spread over all of them', async (t) => {
    const cluster = await start();
    t.after(() => cluster.stop());
    for (const id of ['a', 'b', 'c']) cluster.startReplica(id);
    await waitForDispatcher(cluster.replicas);
    const ok = await cluster.insertSinkRecords(240, { mode: 'ok', delayMs: 20 });
    const flaky = await cluster.insertSinkRecords(40, { mode: 'fail-until', succeedOnAttempt: 3, delayMs: 20 });
    const permanent = await cluster.insertSinkRecords(20, { mode: 'permanent' });
    await cluster.waitUntilSettled();

    const { rows } = await cluster.pool.query<{ id: number; status: string; attempts: number }>(
      'SELECT id, status, attempts FROM failed_records',
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const id of ok) assert.deepEqual(byId.get(id), { id, status: 'succeeded', attempts: 1 });
    for (const id of flaky) assert.deepEqual(byId.get(id), { id, status: 'succeeded', attempts: 3 });
    for (const id of permanent) assert.deepEqual(byId.get(id), { id, status: 'dead', attempts: 1 });
    assert.equal(cluster.sink.executions.length, 240 + 40 * 3 + 20, 'every attempt reached the sink once');
    assertSafe(cluster);
    await assertLedgerConsistent(cluster);
    const perReplica = new Map<string, number>();
    for (const e of cluster.sink.executions) perReplica.set(e.replicaId, (perReplica.get(e.replicaId) ?? 0) + 1);
    for (const id of ['a', 'b', 'c'])
      assert.ok((perReplica.get(id) ?? 0) >= 20, `replica ${id} executed ${perReplica.get(id) ?? 0} records`);
  });

  test('kill -9 of a consumer mid-execution: its records run again elsewhere, never two at once', async (t) => {
    // The dead attempts' next attempts wait their backoff (0.5-1 s here), longer than the sink's 500 ms.
    const cluster = await start({ BACKOFF_BASE_MS: '1000', BACKOFF_MAX_MS: '2000' });
    t.after(() => cluster.stop());
    const [a, b] = [cluster.startReplica('a'), cluster.startReplica('b')];
    const leader = await waitForDispatcher(cluster.replicas);
    const victim = leader === a ? b : a;
    const ids = await cluster.insertSinkRecords(60, { mode: 'ok', delayMs: 500 });
    await waitFor('the victim to be mid-execution', async () => {
      const { rows } = await cluster.pool.query(
        `SELECT 1 FROM failed_record_attempts WHERE replica_id = $1 AND outcome IS NULL`,
        [victim.id],
      );
      return rows.length >= 3 ? true : undefined;
    });
    await victim.kill();
    await cluster.waitUntilSettled();

    const { rows } = await cluster.pool.query<{ id: number; status: string; attempts: number }>(
      'SELECT id, status, attempts FROM failed_records',
    );
    assert.equal(rows.length, ids.length);
    for (const r of rows) assert.equal(r.status, 'succeeded', `record ${r.id}`);
    for (const r of rows) assert.ok(r.attempts <= 2, `record ${r.id} has ${r.attempts} attempts`);
    const { rows: died } = await cluster.pool.query<{ record_id: number }>(
      `SELECT record_id FROM failed_record_attempts WHERE replica_id = $1 AND outcome IS NULL`,
      [victim.id],
    );
    assert.ok(died.length >= 3, 'the killed consumer had attempts in flight');
    const rerun = new Set(rows.filter((r) => r.attempts === 2).map((r) => r.id));
    assert.deepEqual(rerun, new Set(died.map((d) => d.record_id)), 'exactly the attempts that died ran again');
    assertSafe(cluster);
    await assertLedgerConsistent(cluster);
  });

  test('kill -9 of the dispatching leader: another replica dispatches, and nothing is lost', async (t) => {
    const cluster = await start();
    t.after(() => cluster.stop());
    for (const id of ['a', 'b', 'c']) cluster.startReplica(id);
    const first = await waitForDispatcher(cluster.replicas);
    await cluster.insertSinkRecords(100, { mode: 'ok', delayMs: 50 });
    await waitFor('executions under way', () => (cluster.sink.executions.length >= 20 ? true : undefined));
    const killedAt = Date.now();
    await first.kill();
    const second = await waitForDispatcher(cluster.replicas, killedAt);
    assert.notEqual(second, first);
    const later = await cluster.insertSinkRecords(50, { mode: 'ok', delayMs: 20 });
    await cluster.waitUntilSettled();

    const { rows } = await cluster.pool.query<{ status: string; attempts: number; n: number }>(
      `SELECT status, attempts, count(*)::int AS n FROM failed_records WHERE id = ANY($1) GROUP BY 1, 2`,
      [later],
    );
    assert.deepEqual(rows, [{ status: 'succeeded', attempts: 1, n: 50 }]);
    const { rows: all } = await cluster.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM failed_records WHERE status <> 'succeeded' OR attempts > 2`,
    );
    assert.equal(all[0]!.n, 0);
    assertSafe(cluster);
    await assertLedgerConsistent(cluster);
  });
});
