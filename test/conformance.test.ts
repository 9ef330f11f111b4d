import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { redisElectionKeys } from '../src/election/redis-lease.js';
import { candidate, untilEnded } from './support/candidate.js';
import { TestCluster } from './support/cluster.js';
import { makeElector } from './support/elector.js';
import { waitFor } from './support/ports.js';
import { isExecution, isLeading, type LogLine, type Replica } from './support/replica.js';
import { checkEvidence } from './support/sink.js';

/**
 * One suite, every backend that elects (etcd, redis, postgres), with real servers, real replica processes
 * and electors in process. Failover times are printed as test diagnostics (README, "Choosing an election
 * backend", collects them). What only one backend does is tested in its own file.
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

/**
 * No two executions of one record, and no two terms, at once at the sink, counting as the chaos suite does
 * (docs/RELIABILITY.md): an overlap that began after the first call's caller had hung up (its handler aborted,
 * say when a stall ended the term, while the sink went on serving it) is left to the downstream to refuse,
 * and is printed as a diagnostic rather than failing the test.
 */
function assertSafe(cluster: TestCluster, diagnostic: (message: string) => void): void {
  const evidence = checkEvidence(cluster.sink.executions);
  const afterHangUp = [...evidence.overlaps, ...evidence.termOverlaps].filter((o) => o.afterHangUp);
  if (afterHangUp.length > 0) diagnostic(`overlaps after the caller hung up: ${JSON.stringify(afterHangUp)}`);
  assert.deepEqual(
    evidence.overlaps.filter((o) => !o.afterHangUp),
    [],
    'two executions of one record overlapped',
  );
  assert.deepEqual(
    evidence.termOverlaps.filter((o) => !o.afterHangUp),
    [],
    'two terms executed at once',
  );
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

    test(
      'one leader among three processes; graceful handover under a second' +
        '; crash takeover within TTL + 2 s; epochs grow',
      async (t) => {
        const cluster = await start();
        t.after(() => cluster.stop());
        for (const id of ['a', 'b', 'c']) cluster.startReplica(id);
        await nextLeader(cluster, 0);
        await cluster.insertSinkRecords(150, { mode: 'ok', delayMs: 20 });
        await new Promise((r) => setTimeout(r, TTL_S * 1000)); // several renewals
        // One term at a time. On a starved machine a 2 s lease can lapse and pass on: that is allowed, as
        // long as each term has an epoch of its own and their executions never overlap (assertSafe below).
        const terms = leadingLines(cluster.replicas);
        if (terms.length > 1) t.diagnostic(`${backend}: leadership moved ${terms.length - 1} time(s) while steady`);
        const termEpochs = terms.map((l) => l.line.epoch!);
        assert.deepEqual(
          termEpochs,
          [...new Set(termEpochs)].sort((a, b) => a - b),
          'each term has an epoch of its own',
        );
        const first = await nextLeader(cluster, terms.at(-1)!.line.time - 1);

        first.replica.signal('SIGTERM');
        assert.deepEqual(await first.replica.exited, { code: 0, signal: null });
        const resigned = first.replica.logs.filter((l) => l.msg === 'leadership ended').at(-1)!;
        const second = await nextLeader(cluster, first.line.time);
        const gracefulMs = second.line.time - resigned.time;
        t.diagnostic(
          `${backend}: graceful handover ${gracefulMs} ms (resignation -> next leader fenced and executing)`,
        );
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
        assertSafe(cluster, (m) => t.diagnostic(m));
      },
    );

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
      assertSafe(cluster, (m) => t.diagnostic(m));
    });

    test(
      'a lease taken away under a live leader (key deleted, as after a Redis failover)' +
        ' yields no overlapping terms',
      async (t) => {
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
        assertSafe(cluster, (m) => t.diagnostic(m));
      },
    );

    test(
      'in process: one of three candidates leads; on resign another leads with a higher epoch' +
        '; stop() is safe before start() and twice, and waits for onTerm before giving the lease back',
      async (t) => {
        const cluster = await start();
        t.after(() => cluster.stop());
        const name = `${cluster.baseEnv.ELECTION_NAME}-in-process`;
        const make = (id: string) =>
          makeElector(cluster.pool, {
            databaseUrl: cluster.db.url,
            electionBackend: backend,
            etcdEndpoints: cluster.etcd.endpoints,
            redisUrl: cluster.baseEnv.REDIS_URL,
            electionName: name,
            leaseTtlSeconds: TTL_S,
            replicaId: id,
          });
        const idle = await make('idle');
        await idle.stop();
        await idle.stop();
        idle.start(async () => assert.fail('started after stop'));

        const cs = await Promise.all(['a', 'b', 'c'].map(async (id) => candidate(id, await make(id))));
        try {
          const first = await waitFor('a leader', () => cs.find((c) => c.leading()));
          await new Promise((r) => setTimeout(r, 1_000)); // more than one renewal interval
          assert.equal(cs.filter((c) => c.leading()).length, 1, 'exactly one leads');
          assert.equal(first.terms.length, 1, 'the leader kept its term across renewals');
          const firstTerm = first.terms[0]!;
          const resignedAt = Date.now();
          await first.elector.stop();
          await first.elector.stop();
          assert.equal(firstTerm.endReason, 'resigned');
          assert.equal(firstTerm.isSafe(), false);
          const second = await waitFor('a new leader', () => cs.find((c) => c !== first && c.leading()));
          const handoverMs = Date.now() - resignedAt;
          assert.ok(
            handoverMs < 1_500,
            `the lease was given back: the handover took ${handoverMs} ms (TTL ${TTL_S} s)`,
          );
          assert.ok(second.terms[0]!.epoch > firstTerm.epoch, 'epochs grow');
          assert.notEqual(second.terms[0]!.token, firstTerm.token, 'each term has a token of its own');
        } finally {
          await Promise.all(cs.map((c) => c.elector.stop()));
        }

        // stop() waits for onTerm to settle before the lease goes to anyone else.
        const slow = await make('slow');
        const other = await make('other');
        let settled = false;
        let leading!: () => void;
        const led = new Promise<void>((r) => (leading = r));
        slow.start(async (term) => {
          leading();
          await untilEnded(term);
          await new Promise((r) => setTimeout(r, 300));
          settled = true;
        });
        await led;
        const watcher = candidate('other', other);
        await slow.stop();
        assert.equal(settled, true, 'stop() returned only after onTerm settled');
        await waitFor('the other to lead', () => watcher.leading() || undefined);
        await other.stop();
      },
    );
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
