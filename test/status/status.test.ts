import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { endTerm, fenceTerm } from '../../src/db/fence-term.js';
import { insertRecords } from '../../src/db/insert-records.js';
import { recordHeartbeat } from '../../src/db/record-heartbeat.js';
import { startAttempts } from '../../src/db/start-attempts.js';
import { termLockKey } from '../../src/db/term-lock.js';
import { ReplicaHeartbeat } from '../../src/replica-heartbeat.js';
import { readClusterStatus, readRecordStatus } from '../../src/status/read-status.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { CLI } from '../support/replica.js';

const NAME = 'status-test';
const TOKEN5 = randomUUID();
let db: TestDatabase;

before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db?.drop();
});

const explain = (recordId: number, knownKinds: string[] | null = ['http']) =>
  readRecordStatus(db.pool, { electionName: NAME, recordId, knownKinds, maxAttemptsOf: () => 5 });

test('the heartbeat lists a replica while it runs and marks it stopped; start and stop are safe twice', async () => {
  let epoch: number | undefined = 3;
  const options = {
    pool: db.pool,
    electionName: NAME,
    backend: 'etcd',
    leadingEpoch: () => epoch,
    log: pino({ level: 'silent' }),
    intervalMs: 50,
  };
  const never = new ReplicaHeartbeat({ ...options, replicaId: 'hb-never' });
  await never.stop(); // before start: writes nothing
  const hb = new ReplicaHeartbeat({ ...options, replicaId: 'hb-1' });
  hb.start();
  hb.start();
  await new Promise((r) => setTimeout(r, 200));
  let status = await readClusterStatus(db.pool, NAME);
  const row = status.replicas.find((r) => r.replicaId === 'hb-1');
  assert.equal(row?.state, 'alive');
  assert.equal(row?.leadingEpoch, 3);
  assert.equal(row?.pid, process.pid);
  assert.equal(
    status.replicas.find((r) => r.replicaId === 'hb-never'),
    undefined,
  );
  epoch = undefined;
  await Promise.all([hb.stop(), hb.stop()]);
  status = await readClusterStatus(db.pool, NAME);
  const stopped = status.replicas.find((r) => r.replicaId === 'hb-1');
  assert.equal(stopped?.state, 'stopped');
  assert.equal(stopped?.leadingEpoch, null);
});

test(
  'status --record explains records against real Postgres' +
    ': due, executing now, died, unknown kind, backoff, dead, no leader',
  async () => {
    await fenceTerm(db.pool, {
      name: NAME,
      epoch: 5,
      token: TOKEN5,
      holder: 'r1',
      backend: 'etcd',
      lockKey: termLockKey(NAME),
      lockTimeoutMs: 500,
      timeoutMs: 10_000,
    });
    await recordHeartbeat(db.pool, {
      electionName: NAME,
      replicaId: 'r1',
      backend: 'etcd',
      host: 'h',
      pid: 1,
      leadingEpoch: 5,
      stopped: false,
    });
    const [a, b] = await insertRecords(db.pool, [
      { kind: 'http', payload: {}, maxAttempts: null },
      { kind: 'fax', payload: {}, maxAttempts: null },
    ]);
    const { rows } = await db.pool.query<{ id: number }>(
      `INSERT INTO failed_records (kind, status, attempts, next_run_at, last_error, finished_at)
     VALUES ('http', 'pending', 1, now() + interval '1 hour', 'answered 503', NULL),
            ('http', 'dead', 5, now(), 'answered 503', now())
     RETURNING id`,
    );
    const [c, d] = rows.map((r) => r.id);

    assert.equal((await explain(a!)).explanation.state, 'due');
    assert.equal((await explain(b!)).explanation.state, 'unknown-kind');
    assert.equal((await explain(b!, null)).explanation.state, 'due');
    const backoff = (await explain(c!)).explanation;
    assert.equal(backoff.state, 'backoff');
    assert.ok(backoff.notDueUntil);
    const dead = (await explain(d!)).explanation;
    assert.equal(dead.state, 'dead');
    assert.match(dead.summary, /attempts exhausted \(5 of 5\); last error: answered 503/);
    assert.equal((await explain(999_999)).explanation.state, 'not-found');

    // Claim the row as a leader does: FOR UPDATE in an open transaction, and a ledger row on another connection.
    const claim = await db.pool.connect();
    try {
      await claim.query('BEGIN');
      await claim.query('SELECT id FROM failed_records WHERE id = $1 FOR UPDATE', [a]);
      assert.equal((await explain(a!)).explanation.state, 'claimed');
      const { rows: uid } = await db.pool.query<{ uid: string }>('SELECT uid FROM failed_records WHERE id = $1', [a]);
      await startAttempts(db.pool, [{ recordId: a!, recordUid: uid[0]!.uid, attempt: 1 }], 5, 'r1');
      const executing = (await explain(a!)).explanation;
      assert.equal(executing.state, 'executing');
      assert.deepEqual(
        { ...executing.executing, startedAt: undefined },
        { replicaId: 'r1', epoch: 5, attempt: 1, startedAt: undefined },
      );
    } finally {
      await claim.query('ROLLBACK');
      claim.release();
    }
    // The transaction ended without an outcome: its executor "died"; the attempt counts.
    const died = (await explain(a!)).explanation;
    assert.equal(died.state, 'due');
    assert.ok(died.details.some((x) => /attempt 1 by r1 in epoch 5 .* never finished/.test(x)));

    await endTerm(db.pool, NAME, 5, TOKEN5, 'resigned');
    const none = (await explain(a!)).explanation;
    assert.equal(none.state, 'no-leader');
    assert.match(none.summary, /no replica leads right now/);
  },
);

test('the status command prints the overview and explanations, as text and JSON, with its exit codes', async () => {
  const run = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, 'status', ...args], {
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url, ELECTION_NAME: NAME },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  await fenceTerm(db.pool, {
    name: NAME,
    epoch: 8,
    token: randomUUID(),
    holder: 'r2',
    backend: 'postgres',
    lockKey: termLockKey(NAME),
    lockTimeoutMs: 500,
    timeoutMs: 10_000,
  });
  await recordHeartbeat(db.pool, {
    electionName: NAME,
    replicaId: 'r2',
    backend: 'postgres',
    host: 'h',
    pid: 2,
    leadingEpoch: 8,
    stopped: false,
  });
  const [id] = await insertRecords(db.pool, [{ kind: 'http', payload: {}, maxAttempts: null }]);

  const text = await run();
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /leader: r2, epoch 8, since /);
  assert.match(text.stdout, /replicas seen in the last 10 min: \d+/);
  assert.match(text.stdout, /pending\s+\d+/);
  assert.match(text.stdout, /oldest due record waiting: [\d.]+ s/);
  assert.match(text.stdout, /8\s+r2\s+postgres\s+\S+\s+open/);

  const json = await run('--json');
  assert.equal(json.code, 0, json.stderr);
  const overview = JSON.parse(json.stdout) as {
    leader: { state: string; holder: string; epoch: number };
    queue: { records: { pending: number } };
    recentTerms: unknown[];
  };
  assert.deepEqual([overview.leader.state, overview.leader.holder, overview.leader.epoch], ['leading', 'r2', 8]);
  assert.ok(overview.queue.records.pending >= 1);
  assert.ok(overview.recentTerms.length >= 2);

  const one = await run('--record', String(id));
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, new RegExp(`record ${id}: due`));
  assert.match(one.stdout, /waiting for the next claim of leader r2 \(epoch 8\)/);
  const oneJson = JSON.parse((await run('--record', String(id), '--json')).stdout) as {
    explanation: { state: string };
  };
  assert.equal(oneJson.explanation.state, 'due');

  const missing = await run('--record', '999999');
  assert.equal(missing.code, 1);
  assert.match(missing.stdout, /does not exist/);
  const bad = await run('--record', 'abc');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--record needs a record id/);
});
