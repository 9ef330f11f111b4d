import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestCluster } from './support/cluster.js';
import { waitFor } from './support/ports.js';
import { isExecution, waitForLeader } from './support/replica.js';
import { checkEvidence } from './support/sink.js';

const assertSafe = (cluster: TestCluster) => {
  const evidence = checkEvidence(cluster.sink.executions);
  assert.deepEqual(evidence.overlaps, [], 'two executions of one record overlapped');
  assert.deepEqual(evidence.termOverlaps, [], 'two terms executed at once');
  for (const [epoch, replicas] of evidence.replicasPerEpoch)
    assert.equal(replicas.size, 1, `epoch ${epoch} ran on ${[...replicas].join(', ')}`);
};

describe('stopping the leader', { concurrency: false }, () => {
  test(
    'SIGTERM: the leader finishes in-flight executions, exits 0 and hands over' + '; nothing is lost or run twice',
    async (t) => {
      const cluster = await TestCluster.start({
        etcdMembers: 3,
        env: { LEASE_TTL_SECONDS: '5', BATCH_SIZE: '10', CONCURRENCY: '5' },
      });
      t.after(() => cluster.stop());
      for (const id of ['a', 'b', 'c']) cluster.startReplica(id);
      const { replica: first } = await waitForLeader(cluster.replicas);
      const ids = await cluster.insertSinkRecords(150, { mode: 'ok', delayMs: 60 });
      await waitFor('the leader to be mid-work', () => (cluster.sink.executions.length >= 20 ? true : undefined));

      first.signal('SIGTERM');
      const exit = await first.exited;
      assert.deepEqual(exit, { code: 0, signal: null });
      const resigned = first.logs.find((l) => l.msg === 'leadership ended');
      assert.equal(resigned?.reason, 'resigned');
      const { replica: second } = await waitForLeader(cluster.replicas);
      assert.notEqual(second, first);
      await cluster.waitUntilSettled();

      const { rows } = await cluster.pool.query<{ status: string; attempts: number; n: number }>(
        `SELECT status, attempts, count(*)::int AS n FROM failed_records GROUP BY 1, 2`,
      );
      assert.deepEqual(rows, [{ status: 'succeeded', attempts: 1, n: ids.length }]);
      assert.equal(cluster.sink.executions.length, ids.length, 'every record executed exactly once');
      assertSafe(cluster);
      // The new leader's first execution came within the lease TTL of the old leader's resignation.
      const firstNew = second.logs.find(isExecution)!.startedAt as number;
      assert.ok(firstNew - resigned!.time < 5_000, `handover took ${firstNew - resigned!.time} ms`);
    },
  );

  test('kill -9 mid-batch: the rows in flight run again on the new leader, never two at once', async (t) => {
    const cluster = await TestCluster.start({ env: { LEASE_TTL_SECONDS: '2', BATCH_SIZE: '10', CONCURRENCY: '10' } });
    t.after(() => cluster.stop());
    for (const id of ['a', 'b']) cluster.startReplica(id);
    const { replica: first } = await waitForLeader(cluster.replicas);
    const ids = await cluster.insertSinkRecords(60, { mode: 'ok', delayMs: 400 });
    await waitFor('executions in flight', () => (cluster.sink.executions.length >= 10 ? true : undefined));
    const killedAt = Date.now();
    await first.kill();
    const { replica: second } = await waitForLeader(cluster.replicas);
    await cluster.waitUntilSettled();

    const { rows } = await cluster.pool.query<{ id: number; status: string; attempts: number }>(
      'SELECT id, status, attempts FROM failed_records',
    );
    assert.equal(rows.length, ids.length);
    for (const row of rows) assert.equal(row.status, 'succeeded', `record ${row.id}`);
    // Records whose attempt the killed leader had begun (ledger row written) without committing ran again as
    // attempt 2: the attempt that died with its executor counts.
    const rerun = rows.filter((r) => r.attempts === 2).map((r) => r.id);
    assert.ok(rerun.length > 0, 'some rows were in flight when the leader died');
    const { rows: died } = await cluster.pool.query<{ record_id: number }>(
      `SELECT record_id FROM failed_record_attempts WHERE attempt = 1 AND replica_id = $1 AND outcome IS NULL`,
      [first.id],
    );
    assert.deepEqual(new Set(rerun), new Set(died.map((d) => d.record_id)));
    for (const row of rows) assert.ok(row.attempts <= 2, `record ${row.id} has ${row.attempts} attempts`);
    assertSafe(cluster);
    const firstNew = second.logs.find(isExecution)!.startedAt as number;
    assert.ok(firstNew - killedAt < 2_000 + 2_000, `crash failover took ${firstNew - killedAt} ms`);
  });

  test('a leader paused past its lease (SIGSTOP) is refused after SIGCONT and executes nothing more', async (t) => {
    const cluster = await TestCluster.start({
      env: { LEASE_TTL_SECONDS: '2', EXECUTION_TIMEOUT_MS: '1500', BATCH_SIZE: '5', CONCURRENCY: '5' },
    });
    t.after(() => cluster.stop());
    for (const id of ['a', 'b']) cluster.startReplica(id);
    const { replica: first, line } = await waitForLeader(cluster.replicas);
    await cluster.insertSinkRecords(80, { mode: 'ok', delayMs: 300 });
    await waitFor('executions in flight', () => (cluster.sink.executions.length >= 5 ? true : undefined));
    first.signal('SIGSTOP');
    const { replica: second } = await waitForLeader(cluster.replicas, 20_000, line.time + 1);
    assert.notEqual(second, first);
    await new Promise((r) => setTimeout(r, 4_000));
    const resumedAt = Date.now();
    first.signal('SIGCONT');
    await first.waitForLog((l) => l.msg === 'leadership ended');
    await cluster.waitUntilSettled();

    const lateStarts = first.logs.filter((l) => isExecution(l) && (l.startedAt as number) > resumedAt);
    assert.deepEqual(lateStarts, [], 'the paused leader started executions after it resumed');
    // A request the paused leader had begun before the pause may reach the sink only after it resumes; it
    // carries the old epoch as its fencing token, and the sink refuses it.
    for (const e of cluster.sink.executions.filter((x) => x.replicaId === first.id && x.start > resumedAt)) {
      assert.ok(
        e.refused,
        `a request of the paused leader reached the sink after resume unrefused: ${JSON.stringify(e)}`,
      );
    }
    const { rows } = await cluster.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM failed_records WHERE status <> 'succeeded'`,
    );
    assert.equal(rows[0]!.n, 0);
    assertSafe(cluster);
  });
});
