import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { redisElectionKeys } from '../src/election/redis-lease.js';
import { candidate as hold } from './support/candidate.js';
import { makeElector } from './support/elector.js';
import { freePort, waitFor } from './support/ports.js';
import { type RedisServer, startRedis } from './support/redis.js';

let redis: RedisServer;
let admin: Redis;
before(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url, { commandTimeout: 2000 });
});
after(async () => {
  if (admin && !redis.owned) {
    // A shared REDIS_URL: remove the epoch counters (and any leftover leader keys) this run created.
    const keys = await admin.keys(`retry-worker:{${redis.namePrefix}*`);
    if (keys.length > 0) await admin.del(...keys);
  }
  admin?.disconnect();
  await redis?.stop();
});

let names = 0;
const nextName = () => `${redis.namePrefix}e${names++}`;

const elector = (electionName: string, id: string, leaseTtlSeconds = 2, redisUrl = redis.url) =>
  makeElector(undefined, {
    databaseUrl: 'postgres://unused@127.0.0.1/unused',
    electionBackend: 'redis',
    redisUrl,
    electionName,
    leaseTtlSeconds,
    replicaId: id,
  });

/** An elector that records its terms and holds each until it ends. */
async function candidate(electionName: string, id: string, leaseTtlSeconds = 2) {
  return hold(id, await elector(electionName, id, leaseTtlSeconds));
}

test('the leader keeps its key past the TTL by renewing it', async () => {
  const name = nextName();
  const a = await candidate(name, 'a', 2);
  try {
    await waitFor('a leads', () => a.leading() || undefined);
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(a.terms.length, 1);
    assert.ok(a.terms[0]!.isSafe());
    const pttl = await admin.pttl(redisElectionKeys(name).leader);
    assert.ok(pttl > 0 && pttl <= 2000, String(pttl));
  } finally {
    await a.elector.stop();
  }
});

test(
  'deleting the leader key (as after a failover) ends the term at the next renewal' + '; a new term has a higher epoch',
  async () => {
    const name = nextName();
    const a = await candidate(name, 'a');
    try {
      await waitFor('a leads', () => a.leading() || undefined);
      const epoch = a.terms[0]!.epoch;
      await admin.del(redisElectionKeys(name).leader);
      // Renewals run every TTL/3 (667 ms here), well before the deadline (TTL - 1000 ms margin after the last one).
      await waitFor('term ended', () => a.terms[0]!.signal.aborted || undefined, 2_000);
      assert.equal(a.terms[0]!.endReason, 'lease-expired');
      assert.equal(a.terms[0]!.isSafe(), false);
      await waitFor('leads again', () => (a.terms.length === 2 && a.leading()) || undefined);
      assert.ok(a.terms[1]!.epoch > epoch, `${a.terms[1]!.epoch} > ${epoch}`);
    } finally {
      await a.elector.stop();
    }
  },
);

test('a key taken over by someone else ends the term, and the elector follows instead', async () => {
  const name = nextName();
  const keys = redisElectionKeys(name);
  const a = await candidate(name, 'a');
  try {
    await waitFor('a leads', () => a.leading() || undefined);
    await admin.set(keys.leader, 'intruder:999', 'PX', 1500);
    await waitFor('term ended', () => a.terms[0]!.signal.aborted || undefined, 2_000);
    assert.equal(a.terms[0]!.endReason, 'lease-expired');
    // Our compare-and-delete must not remove the intruder's key.
    assert.equal(await admin.get(keys.leader), 'intruder:999');
    await waitFor(
      'leads again after the intruder key expires',
      () => (a.terms.length === 2 && a.leading()) || undefined,
    );
  } finally {
    await a.elector.stop();
  }
});

test('when Redis hangs, renewals fail and the deadline timer ends the term', {
  skip: process.env.REDIS_URL ? 'needs a Redis this test started (it SIGSTOPs it)' : false,
}, async () => {
  const name = nextName();
  const a = await candidate(name, 'a');
  try {
    await waitFor('a leads', () => a.leading() || undefined);
    redis.suspend!();
    const suspendedAt = performance.now();
    try {
      await waitFor('term ended', () => a.terms[0]!.signal.aborted || undefined, 3_000);
    } finally {
      redis.resume!();
    }
    assert.equal(a.terms[0]!.endReason, 'deadline');
    assert.equal(a.terms[0]!.isSafe(), false);
    assert.ok(performance.now() - suspendedAt < 2_000, 'the term ended within TTL of the last renewal');
  } finally {
    await a.elector.stop();
  }
});

test('stop() is safe before start() and twice, and gives the key back', async () => {
  const idle = await elector(nextName(), 'x');
  await idle.stop();
  await idle.stop();
  const name = nextName();
  const c = await candidate(name, 'y');
  await waitFor('leads', () => c.leading() || undefined);
  await c.elector.stop();
  await c.elector.stop();
  assert.equal(c.terms[0]!.endReason, 'resigned');
  assert.equal(await admin.get(redisElectionKeys(name).leader), null);
});

test('stop() does not hang while Redis is unreachable', async () => {
  const port = await freePort(); // nothing listens here
  const unreachable = await elector(nextName(), 'z', 2, `redis://127.0.0.1:${port}`);
  let terms = 0;
  unreachable.start(async () => {
    terms++;
  });
  await new Promise((r) => setTimeout(r, 1_500));
  const started = Date.now();
  await unreachable.stop();
  assert.ok(Date.now() - started < 1_000, `stop took ${Date.now() - started} ms`);
  assert.equal(terms, 0);
});
