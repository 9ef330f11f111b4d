import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect } from 'amqplib';
import { sleep } from '../src/async.js';
import { queueName } from '../src/dispatch/dispatch-message.js';
import { TestCluster } from './support/cluster.js';
import { assertLedgerConsistent, assertOutcomes, assertSafe, waitForDispatcher } from './support/dispatch-checks.js';
import { waitFor } from './support/ports.js';
import { type PrivateRabbit, privateRabbitUnavailable, startPrivateRabbit } from './support/private-rabbit.js';
import type { LogLine, Replica } from './support/replica.js';

// A broker of this file's own: the machine's shared one must not be restarted.
const skip = privateRabbitUnavailable();
const WAITS = 'dispatching waits for the link to RabbitMQ; nothing is lost meanwhile';
const RESUMED = 'RabbitMQ linked: dispatching';
/** How long the broker stays down once it has stopped. */
const DOWN_MS = 3_000;

describe('dispatch mode through a RabbitMQ restart', { skip, concurrency: false }, () => {
  let rabbit: PrivateRabbit;
  before(async () => {
    rabbit = await startPrivateRabbit();
  });
  after(() => rabbit?.dispose());

  /**
   * Three replicas at default settings (etcd elects; '' unsets the harness's faster backoff and poll interval)
   * execute a few hundred records that each take 500 ms, so that when the broker goes down
   * most messages are queued in it and some are being executed. While it is down the leader says it waits, and
   * publishes nothing (records inserted meanwhile stay unmarked); once it is back it says so and dispatches
   * again. At the end every record has run as often as its behaviour asks, once at a time, nothing lost.
   */
  async function throughRestart(electionName: string, goDown: () => Promise<void>): Promise<void> {
    await rabbit.start(); // no-op unless an earlier case left it down
    const cluster = await TestCluster.start({
      env: {
        EXECUTION_MODE: 'dispatch',
        AMQP_URL: rabbit.url,
        ELECTION_NAME: electionName,
        BACKOFF_BASE_MS: '',
        BACKOFF_MAX_MS: '',
        POLL_INTERVAL_MS: '',
      },
    });
    try {
      for (const id of ['a', 'b', 'c']) cluster.startReplica(id);
      const leader = await waitForDispatcher(cluster.replicas);
      const ok = await cluster.insertSinkRecords(240, { mode: 'ok', delayMs: 500 });
      const flaky = await cluster.insertSinkRecords(40, { mode: 'fail-until', succeedOnAttempt: 2, delayMs: 500 });
      const permanent = await cluster.insertSinkRecords(20, { mode: 'permanent', delayMs: 500 });
      await waitFor('executions under way', () => (cluster.sink.executions.length >= 45 ? true : undefined));
      // Executions start and end in waves of 500 ms: wait for a moment with at least 10 in progress, not for
      // one reading that may fall between two waves.
      await waitFor('10 executions in progress', async () => ((await openAttempts(cluster)) >= 10 ? true : undefined));
      const queued = await readyMessages(rabbit.url, queueName(electionName));
      assert.ok(queued >= 100, `${queued} messages queued when the broker went down`);

      const downAt = Date.now();
      await goDown();
      const wentDownAt = Date.now();
      const waiting = await saysAfter(leader, WAITS, downAt, 10_000);
      const late = await cluster.insertSinkRecords(30, { mode: 'ok', delayMs: 100 });
      await sleep(DOWN_MS);
      const { rows: marked } = await cluster.pool.query(
        'SELECT id FROM failed_records WHERE id = ANY($1) AND dispatch_token IS NOT NULL',
        [late],
      );
      assert.deepEqual(marked, [], 'the leader marked records for dispatch while the broker was down');

      const upAt = Date.now();
      await rabbit.start();
      const resumed = await saysAfter(leader, RESUMED, waiting.time, 20_000);
      await cluster.waitUntilSettled(60_000);

      assert.ok(waiting.time <= upAt, 'the leader said it waits only once the broker was back');
      assert.ok(resumed.time >= upAt, 'the leader resumed before the broker was back');
      const startedWhileDown = cluster.sink.executions.filter((e) => e.start > wentDownAt + 1_000 && e.start < upAt);
      assert.deepEqual(startedWhileDown, [], 'executions started while the broker was down');
      const { rows: lateRows } = await cluster.pool.query<{ id: number; uid: string }>(
        'SELECT id, uid FROM failed_records WHERE id = ANY($1)',
        [late],
      );
      for (const { id, uid } of lateRows)
        assert.ok(
          cluster.sink.executions.some((e) => e.key === uid && e.start >= upAt),
          `record ${id}, inserted while the broker was down, ran once it was back`,
        );
      await assertOutcomes(cluster, [
        { ids: [...ok, ...late], status: 'succeeded', attempts: 1 },
        { ids: flaky, status: 'succeeded', attempts: 2 },
        { ids: permanent, status: 'dead', attempts: 1 },
      ]);
      assertSafe(cluster);
      await assertLedgerConsistent(cluster);
      assert.equal(await openAttempts(cluster), 0, 'an attempt was left without an outcome');
      for (const replica of cluster.replicas)
        await replica.waitForLog((l) => l.msg === 'RabbitMQ reachable again' && l.role === 'consumer');
    } finally {
      await cluster.stop();
    }
  }

  test('a graceful broker restart: the leader waits for it, then dispatches again; nothing lost or overlapping', () =>
    throughRestart('graceful', () => rabbit.stop()));

  test('kill -9 of the broker, then a start: queued messages survive; nothing lost, nothing run twice at once', () =>
    throughRestart('killed', () => rabbit.kill()));
});

/** The replica's first log line `msg` at or after `notBefore`; the failure names the line it waited for. */
function saysAfter(replica: Replica, msg: string, notBefore: number, timeoutMs: number): Promise<LogLine> {
  return replica
    .waitForLog((l) => l.msg === msg && l.time >= notBefore, timeoutMs)
    .catch((err: Error) => {
      throw new Error(`the leader (${replica.id}) did not log "${msg}" within ${timeoutMs} ms`, { cause: err });
    });
}

/** Attempts in progress now (started in the ledger, no outcome yet). */
async function openAttempts(cluster: TestCluster): Promise<number> {
  const { rows } = await cluster.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM failed_record_attempts WHERE outcome IS NULL',
  );
  return rows[0]!.n;
}

/** Messages ready in `queue` (not delivered to a consumer). */
async function readyMessages(url: string, queue: string): Promise<number> {
  const connection = await connect(url);
  try {
    const channel = await connection.createChannel();
    return (await channel.checkQueue(queue)).messageCount;
  } finally {
    await connection.close();
  }
}
