import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { LEADER_BATCH_SIZE, loadConfig, resolveConfig, SETTINGS } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { CLI } from './support/replica.js';

const DATABASE_URL = 'postgres://app@127.0.0.1:5432/app';

/** Runs the real CLI with only the given environment (plus PATH), so no outside setting leaks in. */
function runCli(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 15_000,
  });
}

function assertConfigError(fn: () => unknown, variable: string, expected: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.variable, variable);
    assert.match(err.message, new RegExp(`^${variable}: `));
    assert.match(err.message, /expected/);
    assert.match(err.message, expected);
    return true;
  });
}

test('resolveConfig fills the defaults, in their groups, and generates a replica id', () => {
  const config = resolveConfig({ databaseUrl: DATABASE_URL });
  assert.equal(config.database.url, DATABASE_URL);
  assert.equal(config.election.backend, 'etcd');
  assert.equal(config.election.leaseTtlSeconds, SETTINGS.leaseTtlSeconds.default);
  assert.deepEqual(config.election.etcd.endpoints, SETTINGS.etcdEndpoints.default);
  assert.equal(config.claim.batchSize, LEADER_BATCH_SIZE);
  assert.equal(config.claim.payloadMaxBytes, SETTINGS.payloadMaxBytes.default);
  assert.equal(config.execution.concurrency, SETTINGS.concurrency.default);
  assert.equal(config.execution.timeoutMs, SETTINGS.executionTimeoutMs.default);
  assert.equal(config.http.port, undefined);
  assert.match(config.replicaId, /\S/);
});

test('BATCH_SIZE unset: the most a claim takes in leader mode, the most messages in flight in dispatch mode', () => {
  assert.equal(resolveConfig({ databaseUrl: DATABASE_URL }).claim.batchSize, 2_000);
  const dispatch = { databaseUrl: DATABASE_URL, executionMode: 'dispatch', amqpUrl: 'amqp://127.0.0.1' };
  assert.equal(resolveConfig(dispatch).claim.batchSize, 500);
  assert.equal(resolveConfig({ ...dispatch, batchSize: 2_000 }).claim.batchSize, 2_000);
  assert.equal(resolveConfig({ databaseUrl: DATABASE_URL, batchSize: 100 }).claim.batchSize, 100);
});

test("the http handler's settings: no allow-list and a 1024-byte read by default; items trimmed", () => {
  const defaults = resolveConfig({ databaseUrl: DATABASE_URL });
  assert.deepEqual(defaults.httpHandler, { allowHosts: undefined, maxResponseBytes: 1_024 });
  const set = loadConfig({
    DATABASE_URL,
    HTTP_HANDLER_ALLOW_HOSTS: ' api.example.com, *.svc.example ,10.0.0.0/8,fd00::/8,',
    HTTP_HANDLER_MAX_RESPONSE_BYTES: '0',
  });
  assert.deepEqual(set.httpHandler, {
    allowHosts: ['api.example.com', '*.svc.example', '10.0.0.0/8', 'fd00::/8'],
    maxResponseBytes: 0,
  });
  assert.deepEqual(
    resolveConfig({ databaseUrl: DATABASE_URL, httpHandlerAllowHosts: ['127.0.0.1'] }).httpHandler.allowHosts,
    ['127.0.0.1'],
  );
});

test('resolveConfig returns a config frozen all the way down', () => {
  const config = resolveConfig({ databaseUrl: DATABASE_URL, etcdEndpoints: ['http://a:2379'] });
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.election));
  assert.ok(Object.isFrozen(config.election.etcd.endpoints));
});

test('loadConfig parses strings from the environment and treats blank variables as unset', () => {
  const config = loadConfig({
    DATABASE_URL,
    ETCD_ENDPOINTS: ' http://a:2379 , http://b:2379 ,',
    LEASE_TTL_SECONDS: ' 7 ',
    REPLICA_ID: 'replica-9',
    LOG_LEVEL: 'debug',
    CONCURRENCY: '   ',
  });
  assert.deepEqual(config.election.etcd.endpoints, ['http://a:2379', 'http://b:2379']);
  assert.equal(config.election.leaseTtlSeconds, 7);
  assert.equal(config.replicaId, 'replica-9');
  assert.equal(config.logLevel, 'debug');
  assert.equal(config.execution.concurrency, SETTINGS.concurrency.default);
});

const BAD_VALUES: [variable: string, value: string, expected: RegExp][] = [
  ['LEASE_TTL_SECONDS', 'five', /a whole number from 2 to 300/],
  ['LEASE_TTL_SECONDS', '1', /a whole number from 2 to 300/],
  ['LEASE_TTL_SECONDS', '301', /a whole number from 2 to 300/],
  ['CONCURRENCY', '1.5', /a whole number from 1 to 10000/],
  ['CONCURRENCY', '0', /a whole number/],
  ['BATCH_SIZE', '1e3', /a whole number/],
  ['POLL_INTERVAL_MS', '-5', /a whole number/],
  ['ELECTION_BACKEND', 'zookeeper', /one of etcd/],
  ['LOG_LEVEL', 'verbose', /one of fatal, error/],
  ['DATABASE_URL', 'mysql://app@127.0.0.1/app', /a URL starting with postgres:\/\/ or postgresql:\/\//],
  ['DATABASE_URL', 'not a url', /a URL starting with postgres:/],
  ['ETCD_ENDPOINTS', ' , ,', /a comma-separated list of http:\/\/ or https:\/\/ URLs/],
  ['ETCD_ENDPOINTS', 'http://a:2379,etcd-b:2379', /"\(not a URL\)" is not a URL/],
  ['PAYLOAD_MAX_BYTES', '10', /a whole number from 1024/],
  ['HTTP_HANDLER_ALLOW_HOSTS', ' , ,', /a comma-separated list of host names, \*\.suffix patterns and IPv4\/IPv6/],
  [
    'HTTP_HANDLER_ALLOW_HOSTS',
    'api.example.com,example.com:443',
    /item "example.com:443" is not a host name, \*\.suffix, address or CIDR/,
  ],
  ['HTTP_HANDLER_ALLOW_HOSTS', '10.0.0.0/33', /item "10.0.0.0\/33"/],
  ['HTTP_HANDLER_ALLOW_HOSTS', '*', /item "\*"/],
  ['HTTP_HANDLER_ALLOW_HOSTS', 'https://api.example.com', /item "https:\/\/api.example.com"/],
  ['HTTP_HANDLER_MAX_RESPONSE_BYTES', '-1', /a whole number from 0 to 65536/],
  ['HTTP_HANDLER_MAX_RESPONSE_BYTES', '65537', /a whole number from 0 to 65536/],
  ['HTTP_HANDLER_MAX_RESPONSE_BYTES', '1kb', /a whole number from 0 to 65536/],
];

/** Secrets never appear in a configuration error, however the value is malformed. */
const SECRET_VALUES: [variable: string, value: string, secret: string][] = [
  ['DATABASE_URL', 'mysql://app:s3cr3t/with@slash@db.internal:5432/app', 's3cr3t'],
  ['DATABASE_URL', 'mysql://db.internal/app?password=s3cr3t', 's3cr3t'],
  ['REDIS_URL', 'http://user:s3cr3t@redis.internal:6379', 's3cr3t'],
  ['ETCD_ENDPOINTS', 'http://a:2379,ftp://user:s3cr3t@b:2379/x', 's3cr3t'],
  ['ETCD_ENDPOINTS', 'http://a:2379,s3cr3t', 's3cr3t'],
  ['AMQP_URL', 'http://guest:s3cr3t@rabbit:5672/vhost', 's3cr3t'],
  ['AMQP_URL', 'amqp//guest:s3cr3t@rabbit', 's3cr3t'],
];

for (const [variable, value, secret] of SECRET_VALUES) {
  test(`a malformed ${variable} is reported without the secret in it`, () => {
    assert.throws(
      () => loadConfig({ DATABASE_URL, [variable]: value }),
      (err: unknown) => err instanceof ConfigError && err.variable === variable && !err.message.includes(secret),
    );
  });
}

test('EXECUTION_MODE: leader by default; dispatch needs AMQP_URL; the redelivery time is bounded', () => {
  const defaults = resolveConfig({ databaseUrl: DATABASE_URL });
  assert.deepEqual(defaults.dispatch, { mode: 'leader', amqpUrl: undefined, redeliverAfterMs: 120_000 });
  assertConfigError(
    () => loadConfig({ DATABASE_URL, EXECUTION_MODE: 'dispatch' }),
    'AMQP_URL',
    /required when EXECUTION_MODE=dispatch/,
  );
  assertConfigError(() => loadConfig({ DATABASE_URL, EXECUTION_MODE: 'queue' }), 'EXECUTION_MODE', /leader, dispatch/);
  assertConfigError(
    () => loadConfig({ DATABASE_URL, DISPATCH_REDELIVER_AFTER_MS: '500' }),
    'DISPATCH_REDELIVER_AFTER_MS',
    /from 1000/,
  );
  const set = loadConfig({
    DATABASE_URL,
    EXECUTION_MODE: 'dispatch',
    AMQP_URL: 'amqps://user:pw@rabbit:5671/prod',
    DISPATCH_REDELIVER_AFTER_MS: '30000',
  });
  assert.deepEqual(set.dispatch, {
    mode: 'dispatch',
    amqpUrl: 'amqps://user:pw@rabbit:5671/prod',
    redeliverAfterMs: 30_000,
  });
});

test('settings that come in pairs are refused alone, naming the missing one', () => {
  assertConfigError(
    () => loadConfig({ DATABASE_URL, ETCD_CERT_FILE: '/c.pem' }),
    'ETCD_KEY_FILE',
    /both ETCD_CERT_FILE and ETCD_KEY_FILE/,
  );
  assertConfigError(
    () => loadConfig({ DATABASE_URL, ETCD_PASSWORD: 'x' }),
    'ETCD_USERNAME',
    /both ETCD_USERNAME and ETCD_PASSWORD/,
  );
  assertConfigError(
    () => loadConfig({ DATABASE_URL, ETCD_ENDPOINTS: 'https://a:2379' }),
    'ETCD_CA_FILE',
    /PEM file of the CA/,
  );
});

for (const [variable, value, expected] of BAD_VALUES) {
  test(`loadConfig rejects ${variable}=${JSON.stringify(value)} with a ConfigError naming ${variable}`, () => {
    assertConfigError(() => loadConfig({ DATABASE_URL, [variable]: value }), variable, expected);
  });
}

test('a missing DATABASE_URL is a ConfigError saying it is required', () => {
  assertConfigError(() => loadConfig({}), 'DATABASE_URL', /is required/);
});

test('BACKOFF_MAX_MS below BACKOFF_BASE_MS is a ConfigError naming both', () => {
  assertConfigError(
    () => loadConfig({ DATABASE_URL, BACKOFF_BASE_MS: '5000', BACKOFF_MAX_MS: '1000' }),
    'BACKOFF_MAX_MS',
    /BACKOFF_BASE_MS/,
  );
});

test('resolveConfig rejects a value of the wrong type and an unknown setting', () => {
  assertConfigError(
    () => resolveConfig({ databaseUrl: DATABASE_URL, concurrency: 2.5 }),
    'CONCURRENCY',
    /a whole number/,
  );
  assert.throws(() => resolveConfig({ databaseUrl: DATABASE_URL, leaseTtl: 5 } as never), ConfigError);
});

test('the CLI exits 2 with one stderr line naming a bad variable, before any I/O', () => {
  const result = runCli(['start'], { DATABASE_URL, LEASE_TTL_SECONDS: '0' });
  assert.equal(result.status, 2, result.stderr);
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, /LEASE_TTL_SECONDS/);
  assert.match(lines[0]!, /expected a whole number from 2 to 300/);
});

test('the CLI exits 2 naming DATABASE_URL when it is missing', () => {
  const result = runCli(['start'], {});
  assert.equal(result.status, 2, result.stderr);
  assert.match(result.stderr.trim(), /^[^\n]*DATABASE_URL[^\n]*$/);
});

test('the CLI --help exits 0 and lists every variable in SETTINGS', () => {
  const result = runCli(['--help'], {});
  assert.equal(result.status, 0, result.stderr);
  for (const setting of Object.values(SETTINGS)) assert.match(result.stdout, new RegExp(`^  ${setting.env} `, 'm'));
});

test('the CLI exits 2 on an unknown command', () => {
  const result = runCli(['frobnicate'], { DATABASE_URL });
  assert.equal(result.status, 2);
  assert.match(result.stderr, /unknown command "frobnicate"/);
});
