import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { systemClock } from '../src/clock.js';
import { resolveConfig } from '../src/config.js';
import { createElector } from '../src/election/create-elector.js';
import { redisElectionKeys } from '../src/election/redis-lease.js';
import { deriveTimings } from '../src/timings.js';
import { untilEnded } from './support/candidate.js';
import { TestCluster } from './support/cluster.js';
import { waitFor } from './support/ports.js';
import { isExecution, isLeading, type LogLine, type Replica } from './support/replica.js';
import { checkEvidence } from './support/sink.js';

/**
 * One suite, every backend that elects (etcd, redis, postgres), with real servers and real replica processes.
 * Failover times are printed as test diagnostics; docs/ELECTION-BACKENDS.md collects them.
 */
const TTL_S = 2;
const BACKENDS = ['etcd', 'redis', 'postgres'] as const;

const leadingLines = (replicas: readonly Replica[]) =>
  replicas
    .flatMap((r) => r.logs.filter(isLeading).map((line) => ({ replica: r, line })))
    .sort((a, b) => a.line.time - b.line.time);

async function nextLeader(
  cluster: TestCluster,
  after: number,
  timeoutMs = 20_000,
): Promise<{ replica: Replica; line: LogLine }> {
  return waitFor(
    'a new leader',
    () => leadingLines(cluster.replicas).find((l) => l.line.time > after && l.replica.alive),
    timeoutMs,
    10,
  );
}

function assertSafe(cluster: TestCluster): void {
  const evidence = checkEvidence(cluster.sink.executions);
  assert.deepEqual(evidence.overlaps, [], 'two executions of one record overlapped');
  assert.deepEqual(evidence.termOverlaps, [], 'two terms executed at once');
  for (const [epoch, replicas] of evidence.replicasPerEpoch)
    assert.equal(replicas.size, 1, `epoch ${epoch} ran on ${[...replicas].join(', ')}`);
}

for (const backend of BACKENDS) {
  describe(`election conformance: ${backend}`, { concurrency: false }, () => {
    const start = () =>
      TestCluster.start({
        env: {
          ELECTION_BACKEND: backend,
          LEASE_TTL_SECONDS: String(TTL_S),
          EXECUTION_TIMEOUT_MS: '1500',
          BATCH_SIZE: '5',
          CONCURRENCY: '5',
        },
      });

    test('one leader among three processes; graceful handover under a second; crash takeover within TTL + 2 s; epochs grow', async (t) => {
      const cluster = await start();
      t.after(() => cluster.stop());
      for (const id of ['a', 'b', 'c']) cluster.startReplica(id);
      const first = await nextLeader(cluster, 0);
      await cluster.insertSinkRecords(150, { mode: 'ok', delayMs: 20 });
      await new Promise((r) => setTimeout(r, TTL_S * 1000)); // several renewals
      assert.equal(leadingLines(cluster.replicas).length, 1, 'exactly one replica leads');

      first.replica.signal('SIGTERM');
      assert.deepEqual(await first.replica.exited, { code: 0, signal: null });
      const resigned = first.replica.logs.find((l) => l.msg === 'leadership ended')!;
      const second = await nextLeader(cluster, first.line.time);
      const gracefulMs = second.line.time - resigned.time;
      t.diagnostic(`${backend}: graceful handover ${gracefulMs} ms (resignation -> next leader fenced and executing)`);
      assert.ok(gracefulMs < 1_000, `graceful handover took ${gracefulMs} ms`);

      const killedAt = Date.now();
      await second.replica.kill();
      const third = await nextLeader(cluster, second.line.time);
      const crashMs = third.line.time - killedAt;
      t.diagnostic(
        `${backend}: crash takeover ${crashMs} ms at TTL ${TTL_S} s (kill -9 -> next leader fenced and executing)`,
      );
      assert.ok(crashMs < TTL_S * 1000 + 2_000, `crash takeover took ${crashMs} ms`);

      const epochs = [first, second, third].map((l) => l.line.epoch!);
      assert.ok(epochs[0]! < epochs[1]! && epochs[1]! < epochs[2]!, `epochs ${epochs.join(' < ')}`);
      await cluster.waitUntilSettled();
      assertSafe(cluster);
    });

    test('a leader paused past its TTL is refused after it resumes and executes nothing more', async (t) => {
      const cluster = await start();
      t.after(() => cluster.stop());
      for (const id of ['a', 'b']) cluster.startReplica(id);
      const first = await nextLeader(cluster, 0);
      await cluster.insertSinkRecords(60, { mode: 'ok', delayMs: 300 });
      await waitFor('executions in flight', () => (cluster.sink.executions.length >= 5 ? true : undefined));
      first.replica.signal('SIGSTOP');
      const second = await nextLeader(cluster, first.line.time);
      assert.notEqual(second.replica, first.replica);
      await new Promise((r) => setTimeout(r, 3 * TTL_S * 1000));
      const resumedAt = Date.now();
      first.replica.signal('SIGCONT');
      await first.replica.waitForLog((l) => l.msg === 'leadership ended');
      await cluster.waitUntilSettled();

      assert.deepEqual(
        first.replica.logs.filter((l) => isExecution(l) && (l.startedAt as number) > resumedAt),
        [],
        'started executions after resuming',
      );
      for (const e of cluster.sink.executions.filter((x) => x.replicaId === first.replica.id && x.start > resumedAt)) {
        assert.ok(e.refused, `a request of the paused leader arrived after resume unrefused: ${JSON.stringify(e)}`);
      }
      assertSafe(cluster);
    });

    test('a lease taken away under a live leader (key deleted, as after a Redis failover) yields no overlapping terms', async (t) => {
      const cluster = await start();
      t.after(() => cluster.stop());
      for (const id of ['a', 'b']) cluster.startReplica(id);
      const first = await nextLeader(cluster, 0);
      await cluster.insertSinkRecords(60, { mode: 'ok', delayMs: 200 });
      await waitFor('executions in flight', () => (cluster.sink.executions.length >= 5 ? true : undefined));
      await takeLeaseAway(backend, cluster);
      const second = await waitFor(
        'a second term',
        () => leadingLines(cluster.replicas).find((l) => l.line.time > first.line.time),
        20_000,
        10,
      );
      assert.ok(second.line.epoch! > first.line.epoch!);
      await cluster.waitUntilSettled();
      assertSafe(cluster);
    });

    test('stop() is safe before start() and twice', async (t) => {
      const cluster = await start();
      t.after(() => cluster.stop());
      const config = resolveConfig({
        databaseUrl: cluster.db.url,
        electionBackend: backend,
        etcdEndpoints: cluster.etcd.endpoints,
        redisUrl: cluster.baseEnv.REDIS_URL,
        electionName: `${cluster.baseEnv.ELECTION_NAME}-stop`,
        leaseTtlSeconds: TTL_S,
        replicaId: 'x',
      });
      const deps = {
        config,
        timings: deriveTimings(config),
        log: pino({ level: 'silent' }),
        clock: systemClock,
        pool: cluster.pool,
      };
      const idle = await createElector(deps);
      await idle.stop();
      await idle.stop();
      const elector = await createElector(deps);
      let ended: string | undefined;
      let started = false;
      elector.start(async (term) => {
        started = true;
        await untilEnded(term);
        ended = term.endReason;
      });
      await waitFor('a term', () => started || undefined);
      await new Promise((r) => setTimeout(r, 300));
      await elector.stop();
      await elector.stop();
      assert.equal(ended, 'resigned');
    });
  });
}

/** Removes the leader's hold behind its back, the way each backend can lose it. */
async function takeLeaseAway(backend: (typeof BACKENDS)[number], cluster: TestCluster): Promise<void> {
  const name = cluster.baseEnv.ELECTION_NAME!;
  if (backend === 'etcd') {
    const client = new Etcd3({ hosts: cluster.etcd.endpoints });
    try {
      await client.delete().key(`retry-worker/${name}/leader`).exec();
    } finally {
      client.close();
    }
  } else if (backend === 'redis') {
    const client = new Redis(cluster.baseEnv.REDIS_URL!);
    try {
      await client.del(redisElectionKeys(name).leader);
    } finally {
      client.disconnect();
    }
  } else {
    await cluster.pool.query(
      `UPDATE retry_worker_lease SET expires_at = clock_timestamp() - interval '1 second' WHERE name = $1`,
      [name],
    );
  }
}
