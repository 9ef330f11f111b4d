import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { resolveConfig } from '../src/config.js';
import { checkSchema } from '../src/db/check-schema.js';
import { createPool } from '../src/db/pool.js';
import { deriveTimings, leaderSessionSettings } from '../src/timings.js';
import { pgBouncerUnavailable, startPgBouncer } from './support/pgbouncer.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { runCli } from './support/run-cli.js';

const skip = await pgBouncerUnavailable();
let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('rw_pooler');
});
after(() => db.drop());

const replicaEnv = (databaseUrl: string) => ({
  DATABASE_URL: databaseUrl,
  ELECTION_BACKEND: 'static',
  LEADER_ID: 'a',
  REPLICA_ID: 'a',
  LOG_LEVEL: 'error',
});

test('a pooler that drops the session settings stops start-up, naming DATABASE_URL and the setting lost' +
  ' (a real PgBouncer with options in ignore_startup_parameters)', { skip }, async (t) => {
  const bouncer = await startPgBouncer(db.url, {
    poolMode: 'session',
    ignoreStartupParameters: ['options', 'extra_float_digits'],
  });
  t.after(() => bouncer.stop());
  const run = await runCli(['start'], replicaEnv(bouncer.url), 20_000);
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /configuration error: DATABASE_URL: /);
  assert.match(run.stderr, /idle_in_transaction_session_timeout is \d+, expected 5000/);
  assert.match(run.stderr, /PgBouncer/);
});

test('a PgBouncer that refuses the startup options stops start-up too, with its own message', { skip }, async (t) => {
  const bouncer = await startPgBouncer(db.url, {
    poolMode: 'session',
    ignoreStartupParameters: ['extra_float_digits'],
  });
  t.after(() => bouncer.stop());
  const run = await runCli(['start'], replicaEnv(bouncer.url), 20_000);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /unsupported startup parameter: options/);
});

test("an `options` parameter in DATABASE_URL is kept, and the worker's settings win where both set one", async (t) => {
  const session = leaderSessionSettings(deriveTimings(resolveConfig({ databaseUrl: db.url })));
  const url = new URL(db.url);
  url.searchParams.set('options', '-c work_mem=7MB -c statement_timeout=1');
  const pool = createPool({ databaseUrl: url.toString(), max: 1, applicationName: 'rw test options', session });
  t.after(() => pool.end());
  await checkSchema(pool, session);
  const { rows } = await pool.query<{ work_mem: string; timeout: string }>(
    `SELECT current_setting('work_mem') AS work_mem,
            (SELECT setting FROM pg_settings WHERE name = 'statement_timeout') AS timeout`,
  );
  assert.deepEqual(rows, [{ work_mem: '7MB', timeout: String(session.statement_timeout) }]);
});

test('checkSchema passes on a direct connection, and names every setting a connection lacks', async (t) => {
  const session = leaderSessionSettings(deriveTimings(resolveConfig({ databaseUrl: db.url })));
  const direct = createPool({ databaseUrl: db.url, max: 1, applicationName: 'rw test direct', session });
  const plain = createPool({ databaseUrl: db.url, max: 1, applicationName: 'rw test plain' });
  t.after(() => Promise.all([direct.end(), plain.end()]));
  await checkSchema(direct, session);
  await assert.rejects(checkSchema(plain, session), (err: Error) => {
    assert.equal(err.name, 'ConfigError');
    for (const name of ['idle_in_transaction_session_timeout', 'lock_timeout', 'statement_timeout', 'enable_seqscan'])
      assert.match(err.message, new RegExp(`${name} is \\w+, expected ${session[name]}`));
    assert.doesNotMatch(err.message, /tcp_user_timeout/);
    return true;
  });
});
