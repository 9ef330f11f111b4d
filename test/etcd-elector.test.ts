import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { candidate as hold } from './support/candidate.js';
import { makeElector } from './support/elector.js';
import { type EtcdCluster, startEtcd, waitForEtcdHealthy } from './support/etcd.js';
import { waitFor } from './support/ports.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

let etcd: EtcdCluster;
let db: TestDatabase;
before(async () => {
  [etcd, db] = await Promise.all([startEtcd(1), createTestDatabase()]);
});
after(async () => {
  await etcd.stop();
  await db.drop();
});

let names = 0;

const elector = (electionName: string, id: string, leaseTtlSeconds = 2) =>
  makeElector(db.pool, {
    databaseUrl: db.url,
    electionBackend: 'etcd',
    etcdEndpoints: etcd.endpoints,
    electionName,
    leaseTtlSeconds,
    replicaId: id,
  });

/** An elector that records its terms and holds each until it ends. */
async function candidate(electionName: string, id: string, leaseTtlSeconds = 2) {
  return hold(id, await elector(electionName, id, leaseTtlSeconds));
}

test('deleting the leader key ends the term (key-deleted) and a new term with a higher epoch follows', async () => {
  const name = `e${names++}`;
  const a = await candidate(name, 'a');
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
  const a = await candidate(name, 'a');
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
  const a = await candidate(name, 'a', 10);
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
