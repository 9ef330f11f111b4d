import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sleep } from '../src/async.js';
import { resolveConfig } from '../src/config.js';
import { isRecordLocked } from '../src/db/is-record-locked.js';
import { DemoSink } from '../src/demo/demo-sink.js';
import { ConfigError } from '../src/errors.js';
import { kindRegistry } from '../src/executor/load-handlers.js';
import type { FailedRecord, HandlerContext } from '../src/index.js';
import { assertPaced, mostAtOnce } from './support/limits.js';
import { waitFor } from './support/ports.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { CLI } from './support/replica.js';
import { withWorker } from './support/worker.js';

// Per-kind control: policies, limits checked from the downstream's own record, fair claiming, priority, pause.

let db: TestDatabase;
let sinks: Record<string, DemoSink>;
before(async () => {
  db = await createTestDatabase();
  sinks = { limited: new DemoSink(), paced: new DemoSink(), free: new DemoSink() };
  await Promise.all(Object.values(sinks).map((s) => s.start()));
});
after(async () => {
  await Promise.all(Object.values(sinks).map((s) => s.stop()));
  await db.drop();
});

const config = resolveConfig({ databaseUrl: 'postgres://x@127.0.0.1/x' });
const insert = async (kind: string, n: number, priority = 0) =>
  (
    await db.pool.query<{ id: number }>(
      `INSERT INTO failed_records (kind, priority) SELECT $1, $3 FROM generate_series(1, $2) RETURNING id`,
      [kind, n, priority],
    )
  ).rows.map((r) => r.id);
/** Each pending record: its kind, attempts, ms until due, and whether a transaction holds it. */
const stillPending = async () => {
  const { rows } = await db.pool.query<{ id: number; kind: string; attempts: number; dueInMs: number }>(
    `SELECT id, kind, attempts, round(extract(epoch FROM next_run_at - now()) * 1000) AS "dueInMs"
     FROM failed_records WHERE status = 'pending' ORDER BY id`,
  );
  const lines = rows.map(async (r) => {
    const held = (await isRecordLocked(db.pool, r.id)) ? 'held by a transaction' : 'not held';
    return `record ${r.id} (${r.kind}): attempts ${r.attempts}, due in ${r.dueInMs} ms, ${held}`;
  });
  return (await Promise.all(lines)).join('\n');
};
const pending = async (kind: string) =>
  (
    await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM failed_records WHERE kind = $1 AND status = 'pending'`,
      [kind],
    )
  ).rows[0]!.n;

/** A handler that calls `sink` (its own record of what ran when) and waits `delayMs` there. */
const callSink = (sink: DemoSink, delayMs: number) => async (record: FailedRecord, ctx: HandlerContext) => {
  const res = await fetch(sink.url, {
    method: 'POST',
    body: JSON.stringify({ mode: 'ok', delayMs }),
    headers: {
      'idempotency-key': record.uid,
      'x-retry-attempt': String(ctx.attempt),
      'x-fencing-token': String(ctx.fencingToken),
      'x-replica-id': ctx.replicaId,
    },
    signal: ctx.signal,
  });
  if (!res.ok) throw new Error(`sink answered ${res.status}`);
};

test('a policy with an unknown field or a bad value is refused, naming the kind and the field', () => {
  const bad = (entry: unknown, field: RegExp) =>
    assert.throws(
      () => kindRegistry(config, { email: entry as never }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.variable === 'HANDLERS_MODULE' &&
        /kind "email"/.test(err.message) &&
        field.test(err.message),
    );
  const handle = async () => undefined;
  bad({ handle, maxAtempts: 3 }, /maxAtempts is not a policy field/);
  bad({ handle, concurrency: -1 }, /concurrency is -1; expected a whole number from 1/);
  bad({ handle, ratePerSecond: 0 }, /ratePerSecond is 0; expected a number above 0/);
  bad({ handle, backoff: { baseMs: 10, maxMs: 5 } }, /backoff.maxMs is below backoff.baseMs/);
  bad({ handle, backoff: { jiter: 1 } }, /backoff.jiter is not a backoff field/);
  bad({ handle, timeoutMs: 1.5 }, /timeoutMs is 1.5/);
  bad({ maxAttempts: 3 }, /handle must be a function/);
  bad('not a handler', /expected a function or a policy object/);
  const kinds = kindRegistry(config, { email: { handle, maxAttempts: 7, concurrency: 2, backoff: { jitter: 0 } } });
  assert.equal(kinds.get('email')!.maxAttempts, 7);
  assert.equal(
    kinds.get('email')!.backoff.baseMs,
    config.execution.backoffBaseMs,
    'the global settings are the defaults',
  );
});

test('a HANDLERS_MODULE with a bad policy stops start-up with exit 2, naming the kind and the field', () => {
  const module = fileURLToPath(new URL('../../test/fixtures/bad-policy-handlers.mjs', import.meta.url));
  const result = spawnSync(process.execPath, [CLI, 'start'], {
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: db.url,
      ELECTION_BACKEND: 'static',
      LEADER_ID: 'x',
      REPLICA_ID: 'x',
      HANDLERS_MODULE: module,
    },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(result.status, 2, result.stderr);
  assert.match(
    result.stderr,
    /HANDLERS_MODULE: kind "email": concurrency is -2; expected a whole number from 1 to 10000/,
  );
});

test("a kind's concurrency and rate limits hold, as the downstream saw it, while other kinds run freely", async () => {
  await insert('limited', 12);
  await insert('paced', 12);
  await insert('free', 30);
  await withWorker(
    db,
    'limits',
    {
      limited: { handle: callSink(sinks.limited!, 150), concurrency: 2 },
      paced: { handle: callSink(sinks.paced!, 5), ratePerSecond: 4 },
      free: callSink(sinks.free!, 100),
    },
    async (run) => {
      await waitFor(
        'every record to run',
        async () =>
          (await pending('limited')) + (await pending('paced')) + (await pending('free')) === 0 ? true : undefined,
        30_000,
      ).catch(async (err: Error) => {
        // Seen once in CI, with no warning logged: say where each record was left.
        err.message += `\n${await stillPending()}\nsink executions: ${Object.entries(sinks)
          .map(([kind, sink]) => `${kind} ${sink.executions.length}`)
          .join(', ')}\nthe worker's last lines:\n${run.logs
          .slice(-15)
          .map((l) => JSON.stringify(l))
          .join('\n')}`;
        throw err;
      });
    },
    { settings: { concurrency: 20 } },
  );
  assert.equal(sinks.limited!.executions.length, 12);
  assert.equal(mostAtOnce(sinks.limited!.executions), 2, 'never more than 2 of the limited kind at once');
  assert.ok(mostAtOnce(sinks.free!.executions) > 2, 'the free kind was not held to the limit');
  assertPaced(
    sinks.paced!.executions.map((e) => e.start),
    4,
  );
});

test("a kind with 100,000 due records does not keep another kind's 10 from starting in the first claim", async () => {
  await insert('bulk', 100_000);
  const few = await insert('few', 10);
  const order: string[] = [];
  await withWorker(
    db,
    'fair',
    { bulk: async (r) => void order.push(r.kind), few: async (r) => void order.push(r.kind) },
    async () => waitFor('the few to run', async () => ((await pending('few')) === 0 ? true : undefined), 30_000),
    { settings: { batchSize: 500, concurrency: 10 } },
  );
  const lastFew = order.lastIndexOf('few');
  assert.ok(lastFew >= 0 && order.filter((k) => k === 'few').length === few.length);
  // The first claim took 250 of each kind at most (an equal share of 500), so every one of the few is among
  // the first claim's records.
  assert.ok(lastFew < 500, `the last of the few started as number ${lastFew + 1}, after the first claim's records`);
  await db.pool.query(`DELETE FROM failed_records WHERE kind = 'bulk'`);
});

test('within a kind, a smaller priority runs first', async () => {
  await insert('ranked', 20, 0);
  const urgent = await insert('ranked', 5, -1);
  const order: number[] = [];
  await withWorker(db, 'priority', { ranked: async (r) => void order.push(r.id) }, async () =>
    waitFor('every ranked record to run', async () => ((await pending('ranked')) === 0 ? true : undefined), 10_000),
  );
  assert.deepEqual(new Set(order.slice(0, 5)), new Set(urgent));
});

test('a paused kind is not claimed, on the CLI’s word, while other kinds run; resumed, it runs', async () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url },
      encoding: 'utf8',
      timeout: 30_000,
    });
  const paused = cli('pause', 'held', '--reason', 'the provider is down', '--by', 'alice');
  assert.equal(paused.status, 0, paused.stderr);
  assert.match(paused.stdout, /paused kind "held" \(by alice: the provider is down\)/);
  assert.match(paused.stderr, /no handler in this configuration knows kind "held"/);
  await insert('held', 5);
  await insert('flowing', 5);
  const ran: string[] = [];
  await withWorker(
    db,
    'pause',
    { held: async (r) => void ran.push(r.kind), flowing: async (r) => void ran.push(r.kind) },
    async () => {
      await waitFor(
        'the flowing kind to run',
        async () => ((await pending('flowing')) === 0 ? true : undefined),
        10_000,
      );
      await new Promise((r) => setTimeout(r, 300)); // several more claim rounds (poll interval 50 ms)
      assert.equal(await pending('held'), 5, 'nothing of the paused kind was claimed');
      const status = cli('status');
      assert.match(status.stdout, /held\s+5\s+0\s+0\s+0\s+0\s+since \S+ by alice: the provider is down/);
      const resumed = cli('resume', 'held');
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.match(resumed.stdout, /resumed kind "held"/);
      await waitFor('the resumed kind to run', async () => ((await pending('held')) === 0 ? true : undefined), 10_000);
    },
  );
  assert.deepEqual(ran.filter((k) => k === 'held').length, 5);
  const again = cli('resume', 'held');
  assert.match(again.stdout, /kind "held" was not paused; nothing to do/);
  assert.equal(cli('pause').status, 2, 'a kind is required');
});

test('a pause issued while the leader fails over is obeyed by the next leader', async (t) => {
  const { TestCluster } = await import('./support/cluster.js');
  const { waitForLeader } = await import('./support/replica.js');
  const cluster = await TestCluster.start({ env: { ELECTION_BACKEND: 'postgres', LEASE_TTL_SECONDS: '2' } });
  t.after(() => cluster.stop());
  for (const id of ['a', 'b']) cluster.startReplica(id);
  const { replica: first } = await waitForLeader(cluster.replicas);
  await cluster.insertSinkRecords(40, { mode: 'ok', delayMs: 300 });
  await waitFor('executions under way', () => (cluster.sink.executions.length >= 3 ? true : undefined));
  await first.kill();
  const pausedAt = Date.now();
  const paused = spawnSync(process.execPath, [CLI, 'pause', 'http', '--reason', 'failover drill'], {
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: cluster.db.url },
    encoding: 'utf8',
  });
  assert.equal(paused.status, 0, paused.stderr);
  const { replica: second } = await waitForLeader(cluster.replicas, 20_000, pausedAt);
  assert.notEqual(second, first);
  await new Promise((r) => setTimeout(r, 1_500)); // several claim rounds of the new leader
  const late = cluster.sink.executions.filter((e) => e.replicaId === second.id);
  assert.deepEqual(late, [], 'the new leader ran records of a paused kind');
});

test('a capped kind beside a backlog: the leader claims the backlog again at once, not at its next poll', async () => {
  await insert('capped', 200);
  await insert('backlog', 3_000);
  await withWorker(
    db,
    'whole-share',
    {
      capped: { handle: async () => undefined, concurrency: 1 },
      backlog: async () => undefined,
    },
    async () =>
      waitFor('the backlog to drain', async () => ((await pending('backlog')) === 0 ? true : undefined), 30_000),
    // A claim gives the capped kind one record (its cap) and the backlog half the limit: short of the limit,
    // but the backlog's whole share, so more of it is due. The poll is an hour away: a loop that waited for it
    // would leave the backlog pending past the wait above.
    { settings: { pollIntervalMs: 3_600_000, concurrency: 10 } },
  );
});

test('a kind claimed up to its cap is claimed again once it has room, not at the next poll', async () => {
  const succeeded = async (ids: number[]) =>
    (
      await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM failed_records WHERE id = ANY($1) AND status = 'succeeded'`,
        [ids],
      )
    ).rows[0]!.n === ids.length;
  // Each claim takes at most the kind's cap (2 running at once; a burst of 4), which is not its whole share of
  // the batch, so the loop then waits for its poll, an hour away, and nothing is inserted to NOTIFY it: only a
  // wake when the kind has room again (a record of it ended, or started within its rate) claims the rest. Each
  // kind runs alone (the other's claims would take it along), and each execution lasts 50 ms, so that the claim
  // a wake brings runs while its kind's records still do.
  for (const [kind, policy] of [
    ['two-at-once', { concurrency: 2 }],
    ['four-a-second', { ratePerSecond: 4 }],
  ] as const) {
    const ids = await insert(kind, 10);
    await withWorker(
      db,
      `cap-room-${kind}`,
      { [kind]: { handle: () => sleep(50), ...policy } },
      async () =>
        waitFor(`every ${kind} record to run`, async () => ((await succeeded(ids)) ? true : undefined), 30_000),
      { settings: { pollIntervalMs: 3_600_000, concurrency: 10 } },
    );
  }
});
