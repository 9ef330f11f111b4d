import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from './support/cluster.js';
import { isLeading, waitForLeader } from './support/replica.js';

test(
  'static: LEADER_ID leads and the others follow it' +
    '; moving LEADER_ID without raising STATIC_EPOCH is refused, saying so',
  async (t) => {
    const cluster = await TestCluster.start({ env: { ELECTION_BACKEND: 'static', LEADER_ID: 'a', STATIC_EPOCH: '7' } });
    t.after(() => cluster.stop());
    const a = cluster.startReplica('a');
    const b = cluster.startReplica('b');
    const { replica, line } = await waitForLeader(cluster.replicas);
    assert.equal(replica, a);
    assert.equal(line.epoch, 7);
    await b.waitForLog((l) => l.msg === 'following the leader' && l.leader === 'a');
    await cluster.insertSinkRecords(5, { mode: 'ok' });
    await cluster.waitUntilSettled();
    assert.ok(cluster.sink.executions.every((e) => e.replicaId === 'a' && e.epoch === 7));

    // No failover: stopping the leader leaves nobody executing.
    a.signal('SIGTERM');
    assert.deepEqual(await a.exited, { code: 0, signal: null });
    assert.equal(b.logs.some(isLeading), false);

    // LEADER_ID moved to c, STATIC_EPOCH not raised: a's epoch 7 is at or above it, so c refuses to lead.
    const c = cluster.startReplica('c', { LEADER_ID: 'c', STATIC_EPOCH: '6' });
    await c.waitForLog(
      (l) =>
        String(l.msg).startsWith('static election: Postgres holds an epoch of another replica') && l.storedEpoch === 7,
    );
    assert.equal(c.logs.some(isLeading), false);
  },
);

test('static: the leader restarted after kill -9 leads again with a higher epoch, and finishes the work', async (t) => {
  const cluster = await TestCluster.start({ env: { ELECTION_BACKEND: 'static', LEADER_ID: 'a', STATIC_EPOCH: '3' } });
  t.after(() => cluster.stop());
  const a = cluster.startReplica('a');
  const first = await a.waitForLog(isLeading);
  await cluster.insertSinkRecords(40, { mode: 'ok', delayMs: 200 });
  await a.waitForLog((l) => l.recordId !== undefined);
  await a.kill();
  const again = cluster.startReplica('a');
  const second = await again.waitForLog(isLeading);
  assert.ok(second.epoch! > first.epoch!, `epoch ${second.epoch} after ${first.epoch}`);
  await cluster.waitUntilSettled();
});

test(
  'static: a Postgres outage longer than the lease TTL ends the term' + ', and the leader leads again once it is back',
  async (t) => {
    const cluster = await TestCluster.start({
      ownPostgres: true,
      env: { ELECTION_BACKEND: 'static', LEADER_ID: 'a', LEASE_TTL_SECONDS: '2' },
    });
    t.after(() => cluster.stop());
    const a = cluster.startReplica('a');
    const first = await a.waitForLog(isLeading);
    await cluster.db.server.restart!(4_000); // down for twice the TTL
    const ended = await a.waitForLog((l) => l.msg === 'stopped executing' && l.time > first.time, 30_000);
    assert.equal(ended.reason, 'database-unreachable');
    const second = await a.waitForLog((l) => isLeading(l) && l.time > first.time, 30_000);
    assert.ok(second.epoch! > first.epoch!);
    await cluster.insertSinkRecords(5, { mode: 'ok' });
    await cluster.waitUntilSettled();
  },
);

test('static: LEADER_ID is required with ELECTION_BACKEND=static', async (t) => {
  const cluster = await TestCluster.start({ env: { ELECTION_BACKEND: 'static' } });
  t.after(() => cluster.stop());
  const r = cluster.startReplica('a');
  const exit = await r.exited;
  assert.equal(exit.code, 2);
  assert.match(r.stderr.join(''), /LEADER_ID: is required when ELECTION_BACKEND=static/);
});
