import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { resolveConfig } from '../../src/config.js';
import { insertRecords } from '../../src/db/insert-records.js';
import { kindRegistry } from '../../src/executor/load-handlers.js';
import { HttpServer } from '../../src/observability/http-server.js';
import { Metrics } from '../../src/observability/metrics.js';
import { deriveTimings } from '../../src/timings.js';
import { launchChromium, noBrowser } from '../support/chromium.js';
import { waitFor } from '../support/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const TOKEN = 'page-tok-71c2';
let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db?.drop();
});

/** An HttpServer on its own (no worker), with its log lines kept. */
async function withServer(
  settings: Record<string, unknown>,
  body: (at: (path: string, init?: RequestInit) => Promise<Response>, logs: Record<string, unknown>[]) => Promise<void>,
) {
  const config = resolveConfig({
    databaseUrl: db.url,
    electionBackend: 'static',
    leaderId: 'page',
    replicaId: 'page',
    httpPort: 0,
    httpHost: '127.0.0.1',
    ...settings,
  });
  const logs: Record<string, unknown>[] = [];
  const server = new HttpServer({
    config,
    timings: deriveTimings(config),
    metrics: new Metrics({ defaultMetrics: false }),
    elector: { ping: async () => undefined },
    executing: () => undefined,
    executingByKind: () => new Map(),
    kinds: kindRegistry(config),
    log: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
  });
  await server.start();
  try {
    await body((path, init) => fetch(`http://127.0.0.1:${server.port}${path}`, init), logs);
  } finally {
    await server.stop();
  }
}

const post = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
  body: JSON.stringify(body),
});
const status = async (id: number) =>
  (await db.pool.query<{ status: string }>('SELECT status FROM failed_records WHERE id = $1', [id])).rows[0]!.status;

test('without HTTP_TOKEN the page offers no actions and POST /actions/... is refused', async () => {
  await withServer({}, async (at) => {
    const page = await (await at('/')).text();
    assert.doesNotMatch(page, /action-form/);
    const res = await at('/actions/pause', post({ kind: 'x' }));
    assert.equal(res.status, 404);
    assert.match(await res.text(), /only when HTTP_TOKEN is set/);
  });
});

test('with HTTP_TOKEN, actions need a Bearer token (not Basic) and JSON, and are logged with who asked', async () => {
  const [dead, pending] = await insertRecords(db.pool, [
    { kind: 'page-k', payload: {}, maxAttempts: 1 },
    { kind: 'page-k', payload: {}, maxAttempts: null },
  ]);
  await db.pool.query(`UPDATE failed_records SET status = 'dead', attempts = 1, finished_at = now() WHERE id = $1`, [
    dead,
  ]);
  await withServer({ httpToken: TOKEN }, async (at, logs) => {
    const page = await at('/', { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.match(await page.text(), /<form id="action-form"/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.equal(csp.match(/'sha256-/g)?.length, 3, 'two scripts and the style, by hash');
    assert.match(csp, /form-action 'none'/);

    const basic = `Basic ${Buffer.from(`ops:${TOKEN}`).toString('base64')}`;
    assert.equal((await at('/actions/requeue', post({ id: dead }, { authorization: basic }))).status, 401);
    assert.equal((await at('/actions/requeue', post({ id: dead }, { authorization: 'Bearer nope' }))).status, 401);
    assert.equal((await at('/actions/requeue', post({ id: dead }, { 'content-type': 'text/plain' }))).status, 415);
    assert.equal((await at('/actions/explode', post({ id: dead }))).status, 404);
    assert.equal((await at('/actions/requeue', post({ id: 'x' }))).status, 400);
    assert.equal(await status(dead!), 'dead', 'nothing refused changed anything');

    const requeued = await at('/actions/requeue', post({ id: dead, actor: 'dave', reason: 'fixed upstream' }));
    assert.equal(requeued.status, 200);
    assert.equal(((await requeued.json()) as { moved: number }).moved, 1);
    assert.equal(await status(dead!), 'pending');
    const { rows: history } = await db.pool.query(
      `SELECT action, actor, reason FROM retry_worker_record_actions WHERE record_id = $1`,
      [dead],
    );
    assert.deepEqual(history, [{ action: 'requeue', actor: 'page:dave', reason: 'fixed upstream' }]);

    const cancelled = await at('/actions/cancel', post({ id: pending, actor: 'dave' }));
    assert.deepEqual(await cancelled.json(), { recordId: pending, outcome: 'cancelled' });
    assert.equal(await status(pending!), 'cancelled');

    assert.equal((await at('/actions/pause', post({ kind: 'page-k', reason: 'incident' }))).status, 200);
    const { rows: paused } = await db.pool.query(
      `SELECT paused_by FROM retry_worker_paused_kinds WHERE kind = 'page-k'`,
    );
    assert.deepEqual(paused, [{ paused_by: 'page:anonymous' }]);
    assert.deepEqual(await (await at('/actions/resume', post({ kind: 'page-k' }))).json(), {
      kind: 'page-k',
      wasPaused: true,
    });

    const done = logs.filter((l) => l.msg === 'page action done');
    assert.deepEqual(
      done.map((l) => [l.action, (l.requester as { actor: string }).actor]),
      [
        ['requeue', 'page:dave'],
        ['cancel', 'page:dave'],
        ['pause', 'page:anonymous'],
        ['resume', 'page:anonymous'],
      ],
    );
    assert.ok((done[0]!.requester as { address?: string }).address, 'the client address is logged');
    assert.ok(!JSON.stringify(logs).includes(TOKEN), 'the token is never logged');
  });
});

test('in a real browser, the page form requeues a dead record under its Content-Security-Policy', {
  skip: noBrowser,
}, async (t) => {
  const [dead] = await insertRecords(db.pool, [{ kind: 'page-browser', payload: {}, maxAttempts: 1 }]);
  await db.pool.query(`UPDATE failed_records SET status = 'dead', attempts = 1, finished_at = now() WHERE id = $1`, [
    dead,
  ]);
  const browser = await launchChromium();
  t.after(() => browser.close());
  await withServer({ httpToken: TOKEN }, async (at, logs) => {
    const base = new URL((await at('/healthz')).url).origin;
    // The page itself takes the token by Basic (a browser's prompt); the form sends it as a Bearer header.
    const page = await browser.newPage({ httpCredentials: { username: 'ops', password: TOKEN } });
    const refused: string[] = [];
    page.on('console', (m) => m.type() === 'error' && refused.push(m.text()));
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
    await page.goto(`${base}/`);
    await page.selectOption('#action-form select[name=action]', 'requeue');
    await page.fill('#action-form input[name=target]', String(dead));
    await page.fill('#action-form input[name=reason]', 'fixed upstream');
    await page.fill('#action-form input[name=actor]', 'erin');
    await page.fill('#action-form input[name=token]', TOKEN);
    await page.click('#action-form button');
    const result = await waitFor(
      'the form to show the answer',
      async () => (await page.locator('#action-result').textContent()) || undefined,
      10_000,
    );
    assert.match(result, /^200 /, `${result}\n${refused.join('\n')}`);
    assert.deepEqual(dialogs, [`requeue record ${dead}?`]);
    assert.deepEqual(refused, [], 'the browser refused nothing (a script or a fetch the policy blocks)');
    assert.equal(await status(dead!), 'pending');
    const done = logs.filter((l) => l.msg === 'page action done');
    assert.deepEqual(
      done.map((l) => [l.action, (l.requester as { actor: string }).actor]),
      [['requeue', 'page:erin']],
    );
  });
});
