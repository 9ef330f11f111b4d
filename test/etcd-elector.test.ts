import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { EtcdElector } from '../src/election/etcd-elector.js';
import { startEtcd, waitForEtcdHealthy, type EtcdCluster } from './support/etcd.js';
import { candidate as hold } from './support/candidate.js';
import { waitFor } from './support/ports.js';

let etcd: EtcdCluster;
before(async () => {
  etcd = await startEtcd(1);
});
after(() => etcd.stop());

const log = pino({ level: 'silent' });
let names = 0;

/** An elector that records its terms and holds each until it ends. */
function candidate(electionName: string, id: string, leaseTtlSeconds = 2) {
  return hold(id, new EtcdElector({ endpoints: etcd.endpoints, electionName, leaseTtlSeconds, replicaId: id, log }));
}

test('one of three candidates leads; on resign another leads with a higher epoch', async () => {
  const name = `e${names++}`;
  const cs = ['a', 'b', 'c'].map((id) => candidate(name, id));
  try {
    const first = await waitFor('a leader', () => cs.find((c) => c.leading()));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(cs.filter((c) => c.leading()).length, 1);
    const firstEpoch = first.terms[0]!.epoch;
    await first.elector.stop();
    assert.equal(first.terms[0]!.endReason, 'resigned');
    const second = await waitFor('a new leader', () => cs.find((c) => c !== first && c.leading()));
    assert.ok(second.terms[0]!.epoch > firstEpoch);
    assert.equal(cs.filter((c) => c.leading()).length, 1);
  } finally {
    await Promise.all(cs.map((c) => c.elector.stop()));
  }
});

test('deleting the leader key ends the term (key-deleted) and a new term with a higher epoch follows', async () => {
  const name = `e${names++}`;
  const a = candidate(name, 'a');
  const client = new Etcd3({ hosts: etcd.endpoints });
  try {
    await waitFor('a leads', () => a.leading() || undefined);
    const epoch = a.terms[0]!.epoch;
    await client.delete().key(`retry-worker/${name}/leader`).exec();
    await waitFor('term ended', () => a.terms[0]!.signal.aborted || undefined);
    assert.equal(a.terms[0]!.endReason, 'key-deleted');
    await waitFor('leads again', () => (a.terms.length === 2 && a.leading()) || undefined);
    assert.ok(a.terms[1]!.epoch > epoch);
  } finally {
    client.close();
    await a.elector.stop();
  }
});

test('revoking the lease behind the leader ends its term; isSafe() turns false at once', async () => {
  const name = `e${names++}`;
  const a = candidate(name, 'a');
  const client = new Etcd3({ hosts: etcd.endpoints });
  try {
    await waitFor('a leads', () => a.leading() || undefined);
    const { leases } = await client.leaseClient.leaseLeases({});
    await Promise.all(leases.map((l) => client.leaseClient.leaseRevoke({ ID: l.ID })));
    await waitFor('term ended', () => a.terms[0]!.signal.aborted || undefined, 5_000);
    assert.ok(['lease-expired', 'key-deleted'].includes(a.terms[0]!.endReason!), a.terms[0]!.endReason);
    assert.equal(a.terms[0]!.isSafe(), false);
  } finally {
    client.close();
    await a.elector.stop();
  }
});

test('after the etcd member restarts under a leader, deleting its key still ends its term (key-deleted)', async () => {
  // TTL 10 s: the restart (a second or two of failed keepalives) must not end the term by its deadline.
  const name = `e${names++}`;
  const a = candidate(name, 'a', 10);
  const client = new Etcd3({ hosts: etcd.endpoints });
  try {
    await waitFor('a leads', () => a.leading() || undefined);
    await etcd.members[0]!.kill();
    await etcd.members[0]!.restart();
    await waitForEtcdHealthy(etcd);
    assert.equal(a.terms[0]!.signal.aborted, false, 'the term outlived the restart');
    await client.delete().key(`retry-worker/${name}/leader`).exec();
    await waitFor('term ended', () => a.terms[0]!.signal.aborted || undefined, 8_000);
    assert.equal(a.terms[0]!.endReason, 'key-deleted');
  } finally {
    client.close();
    await a.elector.stop();
  }
});

test('stop() is safe before start() and twice', async () => {
  const elector = new EtcdElector({ endpoints: etcd.endpoints, electionName: 'never', leaseTtlSeconds: 2, replicaId: 'x', log });
  await elector.stop();
  await elector.stop();
  const c = candidate(`e${names++}`, 'y');
  await waitFor('leads', () => c.leading() || undefined);
  await c.elector.stop();
  await c.elector.stop();
  assert.equal(c.terms[0]!.endReason, 'resigned');
});
