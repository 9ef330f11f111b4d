import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { SETTINGS } from '../src/config.js';
import { freePort, waitFor } from './support/ports.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

// No Docker engine runs here: the compose file and the Dockerfile are checked by reading them, and the
// files they mount (docker/sink.mjs, docker/seed.sql) by running them for real.
const ROOT = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), 'utf8');

interface Service {
  image?: string;
  env_file?: string[];
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
}
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const isApp = (s: Service) => s.build !== undefined || s.image === 'retry-worker:local';
const replicas = Object.entries(services).filter(([, s]) => isApp(s) && s.command?.[0] === 'start');

/** The variables of a service's env_file(s), as compose reads them (KEY=value lines, # comments). */
function envFile(service: Service): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of service.env_file ?? []) {
    for (const line of read(file).split('\n')) {
      const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
      if (m) out[m[1]!] = m[2]!;
    }
  }
  return out;
}

test(
  'compose is a demo: no password in the compose file itself' +
    '; what we ship runs read-only, without capabilities or new privileges',
  () => {
    const text = read('docker-compose.yml');
    assert.match(text, /DEMO ONLY/);
    const password = envFile(services.postgres!).POSTGRES_PASSWORD!;
    assert.ok(password && !text.includes(password), 'the demo password lives in an env file');
    for (const [name, s] of Object.entries(services).filter(([n, s]) => isApp(s) || n === 'sink')) {
      assert.equal(s.read_only, true, `${name} read_only`);
      assert.deepEqual(s.cap_drop, ['ALL'], `${name} cap_drop`);
      assert.ok(s.security_opt?.includes('no-new-privileges:true'), `${name} no-new-privileges`);
    }
    for (const [name, s] of Object.entries(services).filter(([, s]) => isApp(s))) {
      assert.deepEqual(Object.keys(envFile(s)), ['DATABASE_URL'], `${name} reads only DATABASE_URL from its env file`);
    }
  },
);

let db: TestDatabase | undefined;
after(async () => {
  await db?.drop();
});

test('compose runs etcd, postgres, a one-shot migrate, a seeder, a sink and 3 replicas', () => {
  for (const name of ['etcd', 'postgres', 'migrate', 'seeder', 'sink']) assert.ok(services[name], `service ${name}`);
  assert.deepEqual(services.migrate!.command, ['migrate']);
  assert.ok(isApp(services.migrate!));
  assert.equal(replicas.length, 3);
  assert.deepEqual(
    new Set(replicas.map(([, s]) => s.environment?.REPLICA_ID)).size,
    3,
    'each replica has its own REPLICA_ID',
  );
});

test('compose has healthchecks where others wait on them, and replicas probe /healthz on their HTTP_PORT', () => {
  for (const name of ['etcd', 'postgres', 'sink'])
    assert.ok(services[name]!.healthcheck?.test?.length, `${name} healthcheck`);
  for (const [name, s] of replicas) {
    const probe = s.healthcheck?.test?.join(' ') ?? '';
    assert.match(probe, /\/healthz/, `${name} healthcheck`);
    const port = s.environment?.HTTP_PORT;
    assert.ok(port, `${name} sets HTTP_PORT`);
    assert.match(probe, new RegExp(`127\\.0\\.0\\.1:${port}/healthz`), `${name} probes its own HTTP_PORT`);
  }
  assert.equal(services.migrate!.healthcheck?.disable, true, 'the one-shot migrate has no HTTP server to probe');
});

test(
  'compose starts things in order: migrate after postgres' +
    ', replicas after migrate completed and etcd healthy, seeder after migrate',
  () => {
    const dep = (service: string, on: string) => services[service]!.depends_on?.[on]?.condition;
    assert.equal(dep('migrate', 'postgres'), 'service_healthy');
    for (const [name] of replicas) {
      assert.equal(dep(name, 'migrate'), 'service_completed_successfully', name);
      assert.equal(dep(name, 'etcd'), 'service_healthy', name);
    }
    assert.equal(dep('seeder', 'migrate'), 'service_completed_successfully');
    assert.equal(dep('seeder', 'sink'), 'service_healthy');
  },
);

test("every environment variable of the app's services is a real setting", () => {
  const known = new Set(Object.values(SETTINGS).map((s) => s.env));
  const apps = Object.entries(services).filter(([, s]) => isApp(s));
  assert.ok(apps.length >= 4);
  for (const [name, s] of apps) {
    assert.ok(s.environment && Object.keys(s.environment).length > 0, `${name} has an environment`);
    for (const variable of Object.keys(s.environment))
      assert.ok(known.has(variable), `${name}: ${variable} is not a setting of retry-worker --help`);
  }
  const db = new URL(envFile(services.migrate!).DATABASE_URL!);
  const pgEnv = envFile(services.postgres!);
  assert.deepEqual(
    [db.hostname, db.username, db.password, db.pathname.slice(1)],
    ['postgres', pgEnv.POSTGRES_USER, pgEnv.POSTGRES_PASSWORD, pgEnv.POSTGRES_DB],
  );
  const seeder = { ...envFile(services.seeder!), ...services.seeder!.environment };
  assert.deepEqual(
    [seeder.PGHOST, seeder.PGUSER, seeder.PGPASSWORD, seeder.PGDATABASE],
    ['postgres', pgEnv.POSTGRES_USER, pgEnv.POSTGRES_PASSWORD, pgEnv.POSTGRES_DB],
  );
});

test(
  'the Dockerfile builds and starts with the commands CI runs' +
    ': npm ci, npm run build, retry-worker start; it has a HEALTHCHECK on /healthz',
  () => {
    const lines = read('Dockerfile')
      .replace(/\\\n/g, ' ')
      .split('\n')
      .map((l) => l.trim());
    const runs = lines.filter((l) => l.startsWith('RUN ')).join('\n');
    assert.match(runs, /^RUN npm ci\b/m);
    assert.match(runs, /^RUN npm run build$/m);
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; bin: Record<string, string> };
    assert.ok(pkg.scripts.build);
    const entrypoint = JSON.parse(
      lines.find((l) => l.startsWith('ENTRYPOINT '))!.slice('ENTRYPOINT '.length),
    ) as string[];
    const cmd = JSON.parse(lines.find((l) => l.startsWith('CMD '))!.slice('CMD '.length)) as string[];
    assert.ok(
      entrypoint.some((a) => a.endsWith(pkg.bin['retry-worker']!)),
      `ENTRYPOINT runs the CLI ${pkg.bin['retry-worker']}`,
    );
    assert.deepEqual(cmd, ['start']);
    const healthcheck = lines.find((l) => l.startsWith('HEALTHCHECK '));
    assert.match(healthcheck ?? '', /CMD \["node", "-e", ".*\/healthz/);
    assert.match(lines.filter((l) => l.startsWith('USER ')).at(-1) ?? '', /^USER (?!root)\w+/);
  },
);

test('the seeder SQL inserts http rows that call the sink service, against the migrated schema', async () => {
  const sinkPort = services.sink!.environment!.PORT;
  assert.ok(services.seeder!.volumes?.some((v) => v.startsWith('./docker/seed.sql:')));
  db = await createTestDatabase();
  await db.pool.query(read('docker/seed.sql'));
  const { rows } = await db.pool.query<{ kind: string; url: string; n: number }>(
    `SELECT kind, payload->>'url' AS url, count(*)::int AS n FROM failed_records GROUP BY 1, 2`,
  );
  assert.deepEqual(rows, [{ kind: 'http', url: `http://sink:${sinkPort}/exec`, n: 200 }]);
});

test('the sink script answers /healthz, as each body asks, and refuses stale fencing tokens', async () => {
  assert.ok(services.sink!.volumes?.some((v) => v.startsWith('./docker/sink.mjs:')));
  const port = await freePort();
  const child = spawn(process.execPath, [fileURLToPath(new URL('docker/sink.mjs', ROOT))], {
    env: { PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitFor('the sink', () => fetch(`${base}/healthz`).then((r) => r.ok || undefined), 10_000, 50);
    const post = (body: object, attempt: number, epoch: number) =>
      fetch(`${base}/exec`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'x-retry-attempt': String(attempt), 'x-fencing-token': String(epoch), 'x-replica-id': 'r1' },
      }).then((r) => r.status);
    assert.equal(await post({ mode: 'ok' }, 1, 5), 200);
    assert.equal(await post({ mode: 'fail-until', succeedOnAttempt: 2 }, 1, 5), 503);
    assert.equal(await post({ mode: 'fail-until', succeedOnAttempt: 2 }, 2, 5), 200);
    assert.equal(await post({ mode: 'permanent' }, 1, 6), 422);
    assert.equal(await post({ mode: 'ok' }, 1, 5), 409, 'a token below the highest seen is refused');
  } finally {
    child.kill('SIGKILL');
  }
});
