import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from './support/cluster.js';
import { isLeading, waitForLeader } from './support/replica.js';

test('static: LEADER_ID leads and the others stay idle saying why; a stale STATIC_EPOCH is refused by the fence', async (t) => {
  const cluster = await TestCluster.start({ env: { ELECTION_BACKEND: 'static', LEADER_ID: 'a', STATIC_EPOCH: '7' } });
  t.after(() => cluster.stop());
  const a = cluster.startReplica('a');
  const b = cluster.startReplica('b');
  const { replica, line } = await waitForLeader(cluster.replicas);
  assert.equal(replica, a);
  assert.equal(line.epoch, 7);
  await b.waitForLog((l) => l.msg === 'static election: LEADER_ID names another replica; this replica stays idle' && l.leaderId === 'a');
  await cluster.insertSinkRecords(5, { mode: 'ok' });
  await cluster.waitUntilSettled();
  assert.ok(cluster.sink.executions.every((e) => e.replicaId === 'a' && e.epoch === 7));

  // No failover: stopping the leader leaves nobody executing.
  a.signal('SIGTERM');
  assert.deepEqual(await a.exited, { code: 0, signal: null });
  assert.equal(b.logs.some(isLeading), false);

  // Moving LEADER_ID without raising STATIC_EPOCH: the fence refuses the stale term, and the replica says so.
  const c = cluster.startReplica('c', { LEADER_ID: 'c', STATIC_EPOCH: '6' });
  await c.waitForLog((l) => l.msg === 'the static term ended; this replica stays idle until restarted (if fenced: raise STATIC_EPOCH above the stored epoch)' && l.reason === 'fenced');
  assert.equal(c.logs.some(isLeading), false);
});

test('static: LEADER_ID is required with ELECTION_BACKEND=static', async (t) => {
  const cluster = await TestCluster.start({ env: { ELECTION_BACKEND: 'static' } });
  t.after(() => cluster.stop());
  const r = cluster.startReplica('a');
  const exit = await r.exited;
  assert.equal(exit.code, 2);
  assert.match(r.stderr.join(''), /LEADER_ID: is required when ELECTION_BACKEND=static/);
});
