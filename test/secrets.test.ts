import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from './support/cluster.js';
import { startRedis } from './support/redis.js';

// No secret in any log line or error: a replica whose backends refuse its credentials says so, again and
// again, without ever writing the password (ioredis puts `AUTH user password` on its errors).

const SECRET = 'Sup3r-s3cret-pw';

test('a Redis that refuses the password: the replica logs the refusal, never the password', async (t) => {
  const redis = await startRedis({ password: 'the-right-one' });
  const cluster = await TestCluster.start();
  t.after(async () => {
    await cluster.stop();
    await redis.stop();
  });
  const url = new URL(redis.url);
  url.username = 'default';
  url.password = SECRET;
  const replica = cluster.startReplica('r-redis', {
    ELECTION_BACKEND: 'redis',
    REDIS_URL: url.toString(),
    LOG_LEVEL: 'debug',
  });
  await replica.waitForLog((l) => l.msg === 'redis connection error' || l.msg === 'election attempt failed', 20_000);
  await new Promise((r) => setTimeout(r, 1_000)); // a few more attempts and their log lines
  replica.signal('SIGTERM');
  await replica.exited;
  const everything = JSON.stringify(replica.logs) + replica.stderr.join('');
  assert.match(everything, /WRONGPASS|invalid username-password/i, 'the refusal itself is logged');
  assert.ok(!everything.includes(SECRET), 'the password appears nowhere in the output');
});

test('a Postgres that refuses the password: start-up fails saying why, without the password or the URL', async (t) => {
  const cluster = await TestCluster.start();
  t.after(() => cluster.stop());
  const url = new URL(cluster.db.url);
  url.username = 'no_such_user';
  url.password = SECRET;
  const replica = cluster.startReplica('r-pg', {
    DATABASE_URL: url.toString(),
    ELECTION_BACKEND: 'postgres',
    LOG_LEVEL: 'debug',
  });
  const exit = await replica.exited;
  assert.equal(exit.code, 1);
  const everything = JSON.stringify(replica.logs) + replica.stderr.join('');
  assert.match(everything, /no_such_user/, 'the refusal names the user');
  assert.ok(!everything.includes(SECRET), 'the password appears nowhere in the output');
});
