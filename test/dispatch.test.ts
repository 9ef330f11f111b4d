import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect } from 'amqplib';
import { sleep } from '../src/async.js';
import { encodeMessage, queueName } from '../src/dispatch/dispatch-message.js';
import { TestCluster } from './support/cluster.js';
import { assertLedgerConsistent, assertOutcomes, assertSafe, waitForDispatcher } from './support/dispatch-checks.js';
import { assertPaced, mostAtOnce } from './support/limits.js';
import { waitFor } from './support/ports.js';
import { createVhost, type RabbitVhost, rabbitUnavailable } from './support/rabbitmq.js';
import { CLI, type Replica } from './support/replica.js';
import { TcpProxy } from './support/tcp-proxy.js';

const skip = await rabbitUnavailable();
const LIMITED_HANDLERS = fileURLToPath(new URL('../../test/fixtures/limited-handlers.mjs', import.meta.url));

/** Sums of one metric over the replicas' /metrics (each replica logs the port it serves). */
async function metricSum(replicas: readonly Replica[], name: string): Promise<number> {
  let sum = 0;
  for (const replica of replicas) {
    const { port } = await replica.waitForLog((l) => l.msg === 'http server listening');
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

describe('dispatch mode (RabbitMQ)', { skip, concurrency: false }, () => {
  let vhost: RabbitVhost;
  before(async () => {
    vhost = await createVhost('rw-dispatch');
  });
  after(() => vhost?.drop());

  const start = async (env: Record<string, string> = {}) =>
    TestCluster.start({
      env: {
        EXECUTION_MODE: 'dispatch',
        AMQP_URL: vhost.url,
        ELECTION_BACKEND: 'postgres',
        LEASE_TTL_SECONDS: '2',
        CONCURRENCY: '5',
        ...env,
      },
    });

  test('three replica processes execute every record once at a time, spread over all of them', async (t) => {
    const cluster = await start();
    t.after(() => cluster.stop());
    for (const id of ['a', 'b', 'c']) cluster.startReplica(id, { HTTP_PORT: '0' });
    await waitForDispatcher(cluster.replicas);
    const ok = await cluster.insertSinkRecords(240, { mode: 'ok', delayMs: 20 });
    const flaky = await cluster.insertSinkRecords(40, { mode: 'fail-until', succeedOnAttempt: 3, delayMs: 20 });
    const permanent = await cluster.insertSinkRecords(20, { mode: 'permanent' });
    await cluster.waitUntilSettled();

    await assertOutcomes(cluster, [
      { ids: ok, status: 'succeeded', attempts: 1 },
      { ids: flaky, status: 'succeeded', attempts: 3 },
      { ids: permanent, status: 'dead', attempts: 1 },
    ]);
    assertSafe(cluster);
    await assertLedgerConsistent(cluster);
    const perReplica = new Map<string, number>();
    for (const e of cluster.sink.executions) perReplica.set(e.replicaId, (perReplica.get(e.replicaId) ?? 0) + 1);
    for (const id of ['a', 'b', 'c'])
      assert.ok((perReplica.get(id) ?? 0) >= 20, `replica ${id} executed ${perReplica.get(id) ?? 0} records`);

    // /metrics: the mode, and every execution's message executed once; published once while one term led. A
    // later term (the lease lapsed under a loaded machine) publishes at once what the earlier term marked, and
    // the copies are dropped (assertSafe above checked that none ran twice).
    const executions = cluster.sink.executions.length;
    assert.equal(await metricSum(cluster.replicas, 'retry_worker_execution_mode{mode="dispatch"}'), 3);
    assert.equal(await metricSum(cluster.replicas, 'retry_worker_dispatch_executed_total'), executions);
    const published = await metricSum(cluster.replicas, 'retry_worker_dispatch_published_total');
    const { rows: terms } = await cluster.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM retry_worker_terms WHERE name = $1',
      [cluster.baseEnv.ELECTION_NAME],
    );
    if (terms[0]!.n === 1) assert.equal(published, executions);
    else assert.ok(published >= executions, `${published} published, ${executions} executed, ${terms[0]!.n} terms`);
    // status: every replica in dispatch mode, and the executions spread over all three.
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'status', '--json'], {
      env: { ...process.env, DATABASE_URL: cluster.db.url, ELECTION_NAME: cluster.baseEnv.ELECTION_NAME },
    });
    const status = JSON.parse(stdout) as {
      replicas: { mode: string }[];
      dispatch: { inFlight: number; recentByReplica: { replicaId: string }[] };
    };
    assert.deepEqual(
      status.replicas.map((r) => r.mode),
      ['dispatch', 'dispatch', 'dispatch'],
    );
    assert.equal(status.dispatch.inFlight, 0);
    assert.deepEqual(status.dispatch.recentByReplica.map((r) => r.replicaId).sort(), ['a', 'b', 'c']);
  });

  test('duplicate and stale messages are dropped: a record runs once, however often its message arrives', async (t) => {
    const cluster = await start();
    t.after(() => cluster.stop());
    for (const id of ['a', 'b']) cluster.startReplica(id);
    await waitForDispatcher(cluster.replicas);
    const [id] = await cluster.insertSinkRecords(1, { mode: 'ok', delayMs: 1_500 });
    const { rows } = await waitFor('the record to be executing', async () => {
      const r = await cluster.pool.query<{ uid: string; token: string }>(
        `SELECT f.uid, f.dispatch_token AS token FROM failed_records f
         JOIN failed_record_attempts a ON a.record_uid = f.uid AND a.outcome IS NULL WHERE f.id = $1`,
        [id],
      );
      return r.rows.length > 0 ? r : undefined;
    });
    const message = encodeMessage({ id: id!, uid: rows[0]!.uid, token: rows[0]!.token, epoch: 1 });
    const connection = await connect(vhost.url);
    t.after(() => connection.close());
    const channel = await connection.createConfirmChannel();
    const queue = queueName('test');
    // Copies while it executes (every consumer has a free slot), then, once it is done, a stale one and junk.
    for (let i = 0; i < 4; i++) channel.sendToQueue(queue, message, { persistent: true });
    await channel.waitForConfirms();
    await cluster.waitUntilSettled();
    channel.sendToQueue(queue, message, { persistent: true });
    channel.sendToQueue(queue, Buffer.from('not json'), { persistent: true });
    await channel.waitForConfirms();
    await waitFor('the queue to be empty', async () => {
      const depth = await vhost.queueDepth(queue);
      return depth && depth.ready + depth.unacked === 0 ? true : undefined;
    });
    assert.equal(cluster.sink.executions.length, 1, 'the record ran once');
    const { rows: final } = await cluster.pool.query('SELECT status, attempts FROM failed_records');
    assert.deepEqual(final, [{ status: 'succeeded', attempts: 1 }]);
    const drops = cluster.replicas.flatMap((r) => r.logs).filter((l) => l.msg.startsWith('dropped a message'));
    assert.equal(drops.length, 1, 'the junk message was dropped, saying so');
  });

  test('a message lost after its record was marked is published again after DISPATCH_REDELIVER_AFTER_MS', async (t) => {
    const cluster = await start({ DISPATCH_REDELIVER_AFTER_MS: '5000' });
    t.after(() => cluster.stop());
    for (const id of ['a', 'b']) cluster.startReplica(id, { HTTP_PORT: '0' });
    await waitForDispatcher(cluster.replicas);
    // One record through first: the leader's first round (which takes every earlier term's mark as lost) is over.
    await cluster.insertSinkRecords(1, { mode: 'ok' });
    await cluster.waitUntilSettled();
    // As if the leader had marked and published them, and the broker had lost the messages.
    const insertedAt = Date.now();
    await cluster.pool.query(
      `INSERT INTO failed_records (kind, payload, dispatched_at, dispatch_token)
       SELECT 'http', $1::jsonb, now(), gen_random_uuid() FROM generate_series(1, 20)`,
      [JSON.stringify(cluster.sink.payload({ mode: 'ok' }))],
    );
    await cluster.waitUntilSettled(30_000);
    const firstStart = Math.min(...cluster.sink.executions.slice(1).map((e) => e.start));
    assert.ok(firstStart - insertedAt >= 4_500, `published again after ${firstStart - insertedAt} ms, not 5 s`);
    assert.equal(cluster.sink.executions.length, 21);
    const republished = 'retry_worker_dispatch_published_total{redispatch="true"}';
    assert.equal(await metricSum(cluster.replicas, republished), 20);
    assertSafe(cluster);
  });

  test('a new leader publishes at once what an earlier term marked (it may have died before publishing)', async (t) => {
    const cluster = await start(); // the default DISPATCH_REDELIVER_AFTER_MS: 2 minutes
    t.after(() => cluster.stop());
    await cluster.pool.query(
      `INSERT INTO failed_records (kind, payload, dispatched_at, dispatch_token)
       SELECT 'http', $1::jsonb, now(), gen_random_uuid() FROM generate_series(1, 20)`,
      [JSON.stringify(cluster.sink.payload({ mode: 'ok' }))],
    );
    for (const id of ['a', 'b']) cluster.startReplica(id);
    await cluster.waitUntilSettled(20_000);
    assert.equal(cluster.sink.executions.length, 20);
    assertSafe(cluster);
  });

  test('messages dropped while their kind was paused: resume publishes their records again at once', async (t) => {
    const cluster = await start(); // the default DISPATCH_REDELIVER_AFTER_MS: 2 minutes
    t.after(() => cluster.stop());
    cluster.startReplica('a');
    await waitForDispatcher(cluster.replicas);
    const command = (...args: string[]) =>
      promisify(execFile)(process.execPath, [CLI, ...args], {
        env: { ...process.env, DATABASE_URL: cluster.db.url, ELECTION_NAME: cluster.baseEnv.ELECTION_NAME },
      });
    // 1 s handlers, 5 at a time: the queue still holds most messages when the pause (a CLI process) lands.
    await cluster.insertSinkRecords(60, { mode: 'ok', delayMs: 1_000 });
    await waitFor('some executions', () => (cluster.sink.executions.length >= 5 ? true : undefined));
    await command('pause', 'http');
    // The consumer drops the queued messages of the paused kind; their records stay pending and marked.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const { rows } = await cluster.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM failed_records WHERE status = 'pending' AND dispatch_token IS NOT NULL`,
    );
    assert.ok(rows[0]!.n > 0, 'no message was dropped while the kind was paused');
    await command('resume', 'http');
    await cluster.waitUntilSettled(60_000); // well under the 2 minutes a record waited before
    assert.equal(cluster.sink.executions.length, 60);
    assertSafe(cluster);
  });

  test('the leader tops the queue up as records finish, without waiting for the poll interval', async (t) => {
    // BATCH_SIZE messages in flight at most; one NOTIFY for the whole insert; a poll interval longer than the
    // test. A leader that waited for the next poll once the queue was full would stop after 5 records.
    const cluster = await start({ BATCH_SIZE: '5', POLL_INTERVAL_MS: '600000' });
    t.after(() => cluster.stop());
    cluster.startReplica('a');
    await waitForDispatcher(cluster.replicas);
    await cluster.insertSinkRecords(60, { mode: 'ok', delayMs: 20 });
    await cluster.waitUntilSettled(30_000);
    assert.equal(cluster.sink.executions.length, 60);
    assertSafe(cluster);
  });

  test("a kind's rate paces its publishing across replicas, and holds up no other kind's records", async (t) => {
    // `paced` at 4/s, 12 records: a burst of 4, then 8 over 2 s. Meanwhile, every 250 ms, 3 http records. A
    // round that chose more paced records than its tokens and waited for them before the next round would keep
    // those waiting for up to a second.
    const cluster = await start({ HANDLERS_MODULE: LIMITED_HANDLERS });
    t.after(() => cluster.stop());
    for (const id of ['a', 'b']) cluster.startReplica(id);
    await waitForDispatcher(cluster.replicas);
    const paced = await cluster.insertSinkRecords(12, { mode: 'ok', delayMs: 5 }, { kind: 'paced' });
    const waves: { at: number; ids: number[] }[] = [];
    for (let i = 0; i < 7; i++) {
      await sleep(250);
      const at = performance.timeOrigin + performance.now();
      waves.push({ at, ids: await cluster.insertSinkRecords(3, { mode: 'ok', delayMs: 5 }) });
    }
    await cluster.waitUntilSettled(30_000);
    await assertOutcomes(cluster, [
      { ids: [...paced, ...waves.flatMap((w) => w.ids)], status: 'succeeded', attempts: 1 },
    ]);
    assertSafe(cluster);

    const { rows } = await cluster.pool.query<{ id: number; uid: string }>('SELECT id, uid::text FROM failed_records');
    const uidOf = new Map(rows.map((r) => [r.id, r.uid]));
    const startOf = new Map(cluster.sink.executions.map((e) => [e.key, e.start]));
    const started = (id: number) => startOf.get(uidOf.get(id)!)!;
    assertPaced(paced.map(started), 4);
    const waits = waves.map((w) => Math.min(...w.ids.map(started)) - w.at).sort((a, b) => a - b);
    assert.ok(waits[3]! < 200, `http records inserted meanwhile waited ${waits.map(Math.round).join(', ')} ms`);
  });

  test("a kind's concurrency holds across replicas; at its limit, no round comes until one ends", async (t) => {
    // `capped`: 2 at once and 4/s. Its first 2 messages stay in flight for 2.5 s, and the kind has tokens
    // meanwhile: the leader waits for an end (or the poll) before it chooses again, not for the next token.
    const cluster = await start({ HANDLERS_MODULE: LIMITED_HANDLERS });
    t.after(() => cluster.stop());
    for (const id of ['a', 'b']) cluster.startReplica(id, { HTTP_PORT: '0' });
    await waitForDispatcher(cluster.replicas);
    const ids = await cluster.insertSinkRecords(6, { mode: 'ok', delayMs: 2_500 }, { kind: 'capped' });
    await sleep(700);
    const emptyBefore = await metricSum(cluster.replicas, 'retry_worker_empty_claims_total');
    await sleep(1_500);
    const emptyRounds = (await metricSum(cluster.replicas, 'retry_worker_empty_claims_total')) - emptyBefore;
    // POLL_INTERVAL_MS is 200: about 8 rounds in 1.5 s, and a few NOTIFY wake-ups. A round a millisecond: 600 here.
    assert.ok(emptyRounds < 60, `${emptyRounds} empty dispatch rounds in 1.5 s while the kind was at its limit`);
    await cluster.waitUntilSettled(30_000);
    await assertOutcomes(cluster, [{ ids, status: 'succeeded', attempts: 1 }]);
    assertSafe(cluster);
    assert.equal(mostAtOnce(cluster.sink.executions), 2, 'never more than 2 at once, over both replicas');
    assert.equal(new Set(cluster.sink.executions.map((e) => e.replicaId)).size, 2, 'both replicas executed');
  });

  test('records delivered together run as one group, and a slow one does not hold up the consumer', async (t) => {
    // Inserted before the replica starts: the first burst of deliveries (the prefetch) holds the four slow
    // records and fast ones, and the first group (CONCURRENCY 5) takes four slow and one fast. Its messages
    // are acknowledged only when the group commits, after the slow ones: with a prefetch of CONCURRENCY that
    // would stop the consumer for 4 s; the slot the fast one gave back must keep taking records.
    const cluster = await start();
    t.after(() => cluster.stop());
    await cluster.insertSinkRecords(4, { mode: 'ok', delayMs: 4_000 });
    await cluster.insertSinkRecords(60, { mode: 'ok', delayMs: 50 });
    cluster.startReplica('a');
    await cluster.waitUntilSettled(30_000);
    const slow = cluster.sink.executions.filter((e) => e.end - e.start >= 3_900);
    assert.equal(slow.length, 4);
    const slowFrom = Math.min(...slow.map((e) => e.start));
    const meanwhile = cluster.sink.executions.filter((e) => e.start > slowFrom + 500 && e.start < slowFrom + 3_500);
    assert.ok(meanwhile.length >= 10, `${meanwhile.length} records started while the slow ones ran`);
    assert.equal(cluster.sink.executions.length, 64);
    assertSafe(cluster);
    await assertLedgerConsistent(cluster);
  });

  test('connections cut by the broker: every replica reconnects, nothing is lost or run twice at once', async (t) => {
    const cluster = await start();
    t.after(() => cluster.stop());
    for (const id of ['a', 'b', 'c']) cluster.startReplica(id);
    await waitForDispatcher(cluster.replicas);
    const ids = await cluster.insertSinkRecords(150, { mode: 'ok', delayMs: 100 });
    await waitFor('executions under way', () => (cluster.sink.executions.length >= 20 ? true : undefined));
    assert.ok((await vhost.closeConnections()) >= 6, 'a publisher and a consumer link per replica');
    await cluster.waitUntilSettled();
    for (const replica of cluster.replicas)
      await replica.waitForLog((l) => l.msg === 'RabbitMQ reachable again' && l.role === 'consumer');
    const { rows } = await cluster.pool.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM failed_records WHERE attempts = 1 GROUP BY 1`,
    );
    assert.deepEqual(rows, [{ status: 'succeeded', n: ids.length }]);
    assertSafe(cluster);
    await assertLedgerConsistent(cluster);
  });

  test('a consumer cut off from Postgres aborts its handlers, starts nothing; others finish its records', async (t) => {
    // Its handlers are aborted within 1.5 s (the lease TTL less its margin); the sink serves each call 2 s; the
    // records' next attempts wait their backoff (1-2 s) after Postgres freed the rows (2 s).
    const cluster = await start({ BACKOFF_BASE_MS: '2000', BACKOFF_MAX_MS: '4000' });
    const url = new URL(cluster.db.url);
    const proxy = new TcpProxy(url.hostname, Number(url.port));
    await proxy.start();
    t.after(async () => {
      await cluster.stop();
      await proxy.stop();
    });
    for (const id of ['a', 'b']) cluster.startReplica(id);
    await waitForDispatcher(cluster.replicas);
    url.port = String(proxy.port);
    const cut = cluster.startReplica('c', { DATABASE_URL: url.toString() });
    await cut.waitForLog((l) => l.msg === 'connected to RabbitMQ' && l.role === 'consumer');
    const ids = await cluster.insertSinkRecords(40, { mode: 'ok', delayMs: 2_000 });
    await waitFor('c to be mid-execution', async () => {
      const { rows } = await cluster.pool.query(
        `SELECT 1 FROM failed_record_attempts WHERE replica_id = 'c' AND outcome IS NULL`,
      );
      return rows.length >= 2 ? true : undefined;
    });
    proxy.hold();
    const cutAt = Date.now();
    await cluster.waitUntilSettled(60_000);

    const { rows } = await cluster.pool.query<{ id: number; status: string; attempts: number }>(
      'SELECT id, status, attempts FROM failed_records',
    );
    assert.equal(rows.length, ids.length);
    for (const r of rows) assert.equal(r.status, 'succeeded', `record ${r.id}`);
    for (const r of rows) assert.ok(r.attempts <= 2, `record ${r.id} has ${r.attempts} attempts`);
    const late = cluster.sink.executions.filter((e) => e.replicaId === 'c' && e.start > cutAt + 100);
    assert.deepEqual(late, [], 'the cut-off consumer started executions');
    assert.ok(
      cut.logs.some((l) => l.msg.startsWith('execution failed') && JSON.stringify(l.err).includes('rows-uncertain')),
      'the cut-off consumer aborted its running handlers',
    );
    assertSafe(cluster);
  });

  test('SIGTERM: a consumer stops taking messages, finishes its executions, exits 0; nothing is lost', async (t) => {
    const cluster = await start();
    t.after(() => cluster.stop());
    const [a, b] = [cluster.startReplica('a'), cluster.startReplica('b')];
    const leader = await waitForDispatcher(cluster.replicas);
    const stopping = leader === a ? b : a;
    const ids = await cluster.insertSinkRecords(60, { mode: 'ok', delayMs: 1_000 });
    await waitFor('executions on the replica to stop', () =>
      cluster.sink.inFlightOf(stopping.id) > 0 ? true : undefined,
    );
    const signalledAt = performance.timeOrigin + performance.now(); // the sink's clock
    stopping.signal('SIGTERM');
    assert.deepEqual(await stopping.exited, { code: 0, signal: null });
    // The executions running at the signal finished: the sink answered them, and no caller hung up first.
    await waitFor(
      'the sink to answer the stopped replica',
      () => cluster.sink.inFlightOf(stopping.id) === 0 || undefined,
    );
    const running = cluster.sink.executions.filter(
      (e) => e.replicaId === stopping.id && e.start < signalledAt && e.end > signalledAt,
    );
    assert.ok(running.length > 0, 'no execution of the stopping replica ran at the signal');
    for (const e of running) assert.equal(e.hungUpAt, undefined, `the execution of ${e.key} was cut off`);
    await cluster.waitUntilSettled();
    await assertOutcomes(cluster, [{ ids, status: 'succeeded', attempts: 1 }]);
    assertSafe(cluster);
  });

  test('kill -9 of a consumer mid-execution: its records run again elsewhere, never two at once', async (t) => {
    // The dead attempts' next attempts wait their backoff (0.5-1 s here), longer than the sink's 500 ms.
    const cluster = await start({ BACKOFF_BASE_MS: '1000', BACKOFF_MAX_MS: '2000' });
    t.after(() => cluster.stop());
    const [a, b] = [cluster.startReplica('a'), cluster.startReplica('b')];
    const leader = await waitForDispatcher(cluster.replicas);
    const victim = leader === a ? b : a;
    const ids = await cluster.insertSinkRecords(60, { mode: 'ok', delayMs: 500 });
    await waitFor('the victim to be mid-execution', async () => {
      const { rows } = await cluster.pool.query(
        `SELECT 1 FROM failed_record_attempts WHERE replica_id = $1 AND outcome IS NULL`,
        [victim.id],
      );
      return rows.length >= 3 ? true : undefined;
    });
    await victim.kill();
    await cluster.waitUntilSettled();

    const { rows } = await cluster.pool.query<{ id: number; status: string; attempts: number }>(
      'SELECT id, status, attempts FROM failed_records',
    );
    assert.equal(rows.length, ids.length);
    for (const r of rows) assert.equal(r.status, 'succeeded', `record ${r.id}`);
    for (const r of rows) assert.ok(r.attempts <= 2, `record ${r.id} has ${r.attempts} attempts`);
    const { rows: died } = await cluster.pool.query<{ record_id: number }>(
      `SELECT record_id FROM failed_record_attempts WHERE replica_id = $1 AND outcome IS NULL`,
      [victim.id],
    );
    assert.ok(died.length >= 3, 'the killed consumer had attempts in flight');
    const rerun = new Set(rows.filter((r) => r.attempts === 2).map((r) => r.id));
    assert.deepEqual(rerun, new Set(died.map((d) => d.record_id)), 'exactly the attempts that died ran again');
    assertSafe(cluster);
    await assertLedgerConsistent(cluster);
  });

  test('kill -9 of the dispatching leader: another replica dispatches, and nothing is lost', async (t) => {
    const cluster = await start();
    t.after(() => cluster.stop());
    for (const id of ['a', 'b', 'c']) cluster.startReplica(id);
    const first = await waitForDispatcher(cluster.replicas);
    await cluster.insertSinkRecords(100, { mode: 'ok', delayMs: 50 });
    await waitFor('executions under way', () => (cluster.sink.executions.length >= 20 ? true : undefined));
    const killedAt = Date.now();
    await first.kill();
    const second = await waitForDispatcher(cluster.replicas, killedAt);
    assert.notEqual(second, first);
    const later = await cluster.insertSinkRecords(50, { mode: 'ok', delayMs: 20 });
    await cluster.waitUntilSettled();

    const { rows } = await cluster.pool.query<{ status: string; attempts: number; n: number }>(
      `SELECT status, attempts, count(*)::int AS n FROM failed_records WHERE id = ANY($1) GROUP BY 1, 2`,
      [later],
    );
    assert.deepEqual(rows, [{ status: 'succeeded', attempts: 1, n: 50 }]);
    const { rows: all } = await cluster.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM failed_records WHERE status <> 'succeeded' OR attempts > 2`,
    );
    assert.equal(all[0]!.n, 0);
    assertSafe(cluster);
    await assertLedgerConsistent(cluster);
  });
});
