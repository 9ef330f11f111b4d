import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { resolveConfig } from '../../src/config.js';
import { Term } from '../../src/election/term.js';
import { kindRegistry } from '../../src/executor/load-handlers.js';
import { createWorker, PermanentFailure, type Worker } from '../../src/index.js';
import { HttpServer } from '../../src/observability/http-server.js';
import { Metrics } from '../../src/observability/metrics.js';
import { deriveTimings } from '../../src/timings.js';
import { launchChromium, noBrowser } from '../support/chromium.js';
import { TestCluster } from '../support/cluster.js';
import { type EtcdCluster, startEtcd } from '../support/etcd.js';
import { waitFor } from '../support/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const REPLICA_ID = 'obs-r1';
const EVIL_KIND = '<img src=x onerror="alert(1)">';

let etcd: EtcdCluster;
let db: TestDatabase;
let worker: Worker;
let base: string;

before(async () => {
  [etcd, db] = await Promise.all([startEtcd(1), createTestDatabase()]);
  worker = createWorker({
    config: {
      databaseUrl: db.url,
      etcdEndpoints: etcd.endpoints,
      leaseTtlSeconds: 2,
      pollIntervalMs: 100,
      backoffBaseMs: 20,
      backoffMaxMs: 200,
      replicaId: REPLICA_ID,
      httpPort: 0,
    },
    handlers: {
      ok: async () => undefined,
      reject: async () => {
        throw new PermanentFailure('not today');
      },
      flaky: async () => {
        throw new Error('try again');
      },
      [EVIL_KIND]: async () => {
        throw new PermanentFailure('<script>alert(2)</script>');
      },
    },
    logger: pino({ level: 'silent' }),
  });
  await worker.start();
  base = `http://127.0.0.1:${worker.httpServer!.port}`;
});

after(async () => {
  await worker?.stop();
  await etcd?.stop();
  await db?.drop();
});

const get = (path: string) => fetch(`${base}${path}`, { signal: AbortSignal.timeout(5_000) });

/**
 * The sum of the samples of `name` whose labels include `labels`, e.g. sample(text, 'x_total', { outcome: 'dead' })
 * adds up every kind's; undefined when there is none.
 */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ? m[2].split(',') : [];
    if (want.every((w) => have.includes(w))) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

test('/healthz answers 200 while the process runs', async () => {
  const res = await get('/healthz');
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok\n');
});

test('/readyz answers 200 once this replica leads, with each check named', async () => {
  const body = await waitFor('/readyz to be 200 while leading', async () => {
    const res = await get('/readyz');
    const json = (await res.json()) as { ready: boolean; checks: Record<string, string> };
    return res.status === 200 && json.checks.leadership === 'ok: leading' ? json : undefined;
  });
  assert.deepEqual(body, { ready: true, checks: { database: 'ok', election: 'ok', leadership: 'ok: leading' } });
});

test('after records ran, /metrics counts them by outcome and shows the term and the queue', async () => {
  await db.pool.query(
    `INSERT INTO failed_records (kind, payload, max_attempts, next_run_at)
     SELECT kind, '{}', max_attempts, now() + delay
     FROM (VALUES ('ok', NULL::int, interval '0'), ('ok', NULL, '0'), ('ok', NULL, '0'), ('ok', NULL, '0'),
                  ('ok', NULL, '0'), ('reject', NULL, '0'), ('reject', NULL, '0'), ('flaky', 2, '0'), ($1, NULL, '0'),
                  ('ok', NULL, '1 hour'), ('ok', NULL, '1 hour'), ('ok', NULL, '1 hour'))
          AS r(kind, max_attempts, delay)`,
    [EVIL_KIND],
  );
  // 5 ok succeed; 2 reject and the evil kind die at once; flaky fails once, then dies; 3 wait an hour.
  await waitFor('every due record to settle', async () => {
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM failed_records WHERE status = 'pending' AND next_run_at <= now()`,
    );
    return rows[0]!.n === 0 || undefined;
  });
  await new Promise((r) => setTimeout(r, 1_100)); // let the 1 s cache of an earlier read pass
  const res = await get('/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const outcomes = { succeeded: 5, failed: 1, dead: 4 };
  for (const [outcome, n] of Object.entries(outcomes))
    assert.equal(sample(text, 'retry_worker_executions_total', { outcome }), n, `executions ${outcome}`);
  assert.equal(sample(text, 'retry_worker_executions_total', { kind: 'reject' }), 2, 'executions are counted by kind');
  assert.equal(sample(text, 'retry_worker_execution_seconds_count', { outcome: 'succeeded' }), 5);
  // A claimed record that could not start is claimed again (on a loaded machine the 2 s lease's claim session
  // can be too late to start its rows, or a claim can lock a record before its earlier batch's COMMIT is
  // answered here): each such claim is counted as skipped too.
  const skipped = sample(text, 'retry_worker_skipped_total') ?? 0;
  assert.equal(sample(text, 'retry_worker_claimed_records_total'), 10 + skipped, '9 records, one of them twice');
  assert.ok((sample(text, 'retry_worker_claimed_batches_total') ?? 0) >= 2);
  assert.equal(sample(text, 'retry_worker_leader'), 1);
  const { rows } = await db.pool.query<{ epoch: number }>('SELECT epoch FROM retry_worker_leader');
  assert.equal(sample(text, 'retry_worker_epoch'), rows[0]!.epoch);
  assert.ok((sample(text, 'retry_worker_safe_until_remaining_ms') ?? 0) > 0, 'a live term has time left');
  assert.equal(sample(text, 'retry_worker_terms_started_total'), 1);
  assert.equal(sample(text, 'retry_worker_fenced_rejections_total', { stage: 'claim' }), 0);
  assert.equal(sample(text, 'retry_worker_queue_records', { status: 'pending' }), 3);
  assert.equal(sample(text, 'retry_worker_queue_records', { status: 'succeeded' }), 5);
  assert.equal(sample(text, 'retry_worker_queue_records', { status: 'dead' }), 4);
  assert.equal(sample(text, 'retry_worker_queue_due_records'), 0);
  assert.equal(sample(text, 'retry_worker_queue_oldest_due_age_seconds'), 0);
  assert.equal(sample(text, 'retry_worker_queue_stats_errors_total'), 0);
});

test('the status page names the leader, shows the queue and recent executions, and escapes what it shows', async () => {
  const res = await get('/');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
  const page = await res.text();
  assert.match(page, new RegExp(`This replica leads: <strong id="leader-holder">${REPLICA_ID}</strong>`));
  assert.match(page, /id="queue-pending">3</);
  assert.match(page, /id="queue-succeeded">5</);
  assert.match(page, /id="queue-dead">4</);
  assert.match(page, /<table id="executions">/);
  assert.match(page, /<table id="terms">/);
  assert.match(page, /<table id="kinds">/);
  assert.ok(
    !page.includes('<img') && !page.includes('<script>alert'),
    'a record kind or error is never inserted as markup',
  );
  assert.ok(page.includes('&#60;img src=x onerror=&#34;alert(1)&#34;&#62;'), 'the kind is shown escaped');
  assert.match(
    res.headers.get('content-security-policy') ?? '',
    /default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'.*frame-ancestors 'none'/,
  );

  const status = (await (await get('/status.json')).json()) as {
    leader: { holder: string; epoch: number };
    recentTerms: { holder: string; endedAt: string | null }[];
    recentExecutions: unknown[];
  };
  assert.equal(status.leader.holder, REPLICA_ID);
  assert.equal(status.recentTerms[0]!.holder, REPLICA_ID);
  assert.equal(status.recentTerms[0]!.endedAt, null);
  assert.equal(status.recentExecutions.length, 10);
});

test('in a real browser, the status page shows the leader and the queue and refreshes itself', {
  skip: noBrowser,
}, async (t) => {
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto(`${base}/`);
  assert.equal(await page.locator('#leader-holder').textContent(), REPLICA_ID);
  assert.equal(await page.locator('#queue-pending').textContent(), '3');
  assert.equal(await page.locator('#queue-dead').textContent(), '4');
  assert.ok((await page.locator('#executions tbody tr').count()) >= 10);

  // Two more waiting records: the open page shows them by itself, without a reload.
  await db.pool.query(
    `INSERT INTO failed_records (kind, next_run_at)` +
      ` VALUES ('ok', now() + interval '1 hour'), ('ok', now() + interval '1 hour')`,
  );
  // The leader line is read by the same refreshes: under a heavy load the 2 s lease can lapse and be taken
  // again, and a refresh between the two terms shows no leader.
  await waitFor(
    'the page to refresh itself',
    async () =>
      (await page.locator('#queue-pending').textContent()) === '5' &&
      /This replica leads/.test((await page.locator('#leader').textContent()) ?? '')
        ? true
        : undefined,
    10_000,
    200,
  );
  const dir = await mkdtemp(join(tmpdir(), 'rw-status-page-'));
  const file = join(dir, 'status-page.png');
  await page.screenshot({ path: file, fullPage: true });
  t.diagnostic(`screenshot: ${file}`);
  assert.deepEqual(dialogs, [], 'no script from the data ran');
});

/** An HttpServer of its own, on loopback, with settings by name. */
function directServer(
  settings: Record<string, unknown>,
  parts: { executing?: () => Term | undefined; ping?: () => Promise<void> } = {},
) {
  const config = resolveConfig({
    databaseUrl: db.url,
    electionBackend: 'static',
    leaderId: 'direct',
    replicaId: 'direct',
    electionName: 'other',
    httpPort: 0,
    httpHost: '127.0.0.1',
    ...settings,
  });
  return new HttpServer({
    config,
    timings: deriveTimings(config),
    metrics: new Metrics({ defaultMetrics: false }),
    elector: { ping: parts.ping ?? (async () => undefined) },
    executing: parts.executing ?? (() => undefined),
    executingByKind: () => new Map(),
    kinds: kindRegistry(config),
    log: pino({ level: 'silent' }),
  });
}

test(
  'HttpServer: stop() before start() and twice' + '; /readyz is 503 for a leader whose term is no longer safe',
  async () => {
    let executing: Term | undefined;
    const server = directServer({}, { executing: () => executing });
    await directServer({}).stop();
    await server.start();
    await server.start();
    const url = `http://127.0.0.1:${server.port}/readyz`;
    const readyz = async () => {
      await new Promise((r) => setTimeout(r, 1_050)); // past the shared check's age
      return fetch(url);
    };
    try {
      assert.equal((await fetch(url)).status, 200, 'a follower with reachable backends is ready');
      let now = 0;
      executing = new Term(7, 'token', 1_000, () => now);
      assert.equal((await readyz()).status, 200, 'a leader with a safe term is ready');
      now = 2_000; // past safeUntil: its lease may have expired
      const res = await readyz();
      assert.equal(res.status, 503);
      assert.match(
        ((await res.json()) as { checks: { leadership: string } }).checks.leadership,
        /^failed: leading, but the term is no longer safe/,
      );
      executing = undefined;
      assert.equal((await readyz()).status, 200, 'once it stops leading it is ready again');
    } finally {
      await server.stop();
      await server.stop();
    }
    await assert.rejects(fetch(url), 'the port is closed after stop()');
  },
);

test(
  'a flood of /readyz probes shares one check of the backends' + ' instead of competing with lease renewals',
  async () => {
    let pings = 0;
    const server = directServer(
      {},
      {
        ping: async () => {
          pings++;
          await new Promise((r) => setTimeout(r, 50));
        },
      },
    );
    await server.start();
    try {
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => fetch(`http://127.0.0.1:${server.port}/readyz`).then((r) => r.status)),
      );
      assert.ok(answers.every((s) => s === 200));
      assert.equal(pings, 1, `${pings} pings for 50 probes`);
    } finally {
      await server.stop();
    }
  },
);

test('with HTTP_TOKEN set, every path but /healthz and /readyz needs the token, by Bearer or Basic', async () => {
  const token = 'tok-3f9a';
  const server = directServer({ httpToken: token });
  await server.start();
  const at = (path: string, headers: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${server.port}${path}`, { headers });
  try {
    assert.equal((await at('/healthz')).status, 200);
    assert.equal((await at('/readyz')).status, 200);
    for (const path of ['/', '/metrics', '/status.json']) {
      const refused = await at(path);
      assert.equal(refused.status, 401, path);
      assert.match(refused.headers.get('www-authenticate') ?? '', /^Basic realm="retry-worker"/);
      assert.equal((await at(path, { authorization: 'Bearer wrong-token' })).status, 401, path);
      assert.equal((await at(path, { authorization: `Bearer ${token}` })).status, 200, path);
      assert.equal(
        (await at(path, { authorization: `Basic ${Buffer.from(`ops:${token}`).toString('base64')}` })).status,
        200,
        path,
      );
    }
  } finally {
    await server.stop();
  }
});

test('the server binds HTTP_HOST only, and bounds how long a client may take to send its headers', async () => {
  const server = directServer({ httpHost: '127.0.0.1' });
  await server.start();
  try {
    const { createConnection } = await import('node:net');
    const socket = createConnection({ host: '127.0.0.1', port: server.port! });
    let answer = '';
    socket.on('data', (chunk) => (answer += String(chunk)));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // never finishes its headers
    const closedAfter = await new Promise<number>((resolve) => {
      const started = Date.now();
      socket.on('close', () => resolve(Date.now() - started));
      socket.on('error', () => undefined);
    });
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.ok(closedAfter < 8_000, `a slow client held the connection ${closedAfter} ms`);
  } finally {
    await server.stop();
  }
});

test('a replica process with HTTP_PORT=0 logs its port and serves /readyz and the status page', async (t) => {
  const cluster = await TestCluster.start({ env: { LEASE_TTL_SECONDS: '2' } });
  t.after(() => cluster.stop());
  const replica = cluster.startReplica('proc-r1', { HTTP_PORT: '0' });
  const line = await replica.waitForLog((l) => l.msg === 'http server listening');
  const port = line.port as number;
  assert.ok(Number.isInteger(port) && port > 0);
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  await waitFor('/readyz 200 while leading', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    return res.status === 200 &&
      ((await res.json()) as { checks: { leadership: string } }).checks.leadership === 'ok: leading'
      ? true
      : undefined;
  });
  await cluster.insertSinkRecords(3, { mode: 'ok' });
  await cluster.waitUntilSettled();
  await waitFor(
    'the status page to show 3 succeeded',
    async () => {
      const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
      return page.includes('<strong id="leader-holder">proc-r1</strong>') && page.includes('id="queue-succeeded">3<')
        ? true
        : undefined;
    },
    5_000,
    200,
  );
  replica.signal('SIGTERM');
  assert.equal((await replica.exited).code, 0);
});

test('/readyz is 503 when the election backend is unreachable, while /healthz stays 200', async () => {
  await etcd.members[0]!.kill();
  const res = await waitFor('/readyz 503', async () => {
    const r = await get('/readyz');
    return r.status === 503 ? r : undefined;
  });
  const body = (await res.json()) as { ready: boolean; checks: { database: string; election: string } };
  assert.equal(body.ready, false);
  assert.equal(body.checks.database, 'ok');
  assert.match(body.checks.election, /^failed: /);
  assert.equal((await get('/healthz')).status, 200);
});
