import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { safeClock } from '../src/clock.js';
import { ExecutionAborted } from '../src/errors.js';
import { waitFor } from './support/ports.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { withWorker } from './support/worker.js';

// A handler must never start, or keep running, once Postgres may have freed its row (at default settings:
// the claim session is ended 5 s, the lease TTL, after its last statement).

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

const insert = async (kind: string, n: number) =>
  (
    await db.pool.query<{ id: number }>(
      `INSERT INTO failed_records (kind) SELECT $1 FROM generate_series(1, $2) RETURNING id`,
      [kind, n],
    )
  ).rows.map((r) => r.id);

/** When Postgres ended the worker's claim session(s), polled from outside until stop(). */
async function watchSessionEnd(applicationName: string): Promise<{ endedAt(): number | undefined; stop(): void }> {
  const seen = await waitFor('the claim session to be open', async () => {
    const { rows } = await db.pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state LIKE 'idle in transaction%'`,
      [applicationName],
    );
    return rows.length > 0 ? rows.map((r) => r.pid) : undefined;
  });
  let endedAt: number | undefined;
  const timer = setInterval(async () => {
    const { rows } = await db.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)', [seen]);
    if (rows.length === 0 && endedAt === undefined) endedAt = Date.now();
  }, 20);
  return { endedAt: () => endedAt, stop: () => clearInterval(timer) };
}

/** Whether a claim transaction holds the record's row now (checked from outside, without waiting). */
async function isLocked(id: number): Promise<boolean> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    return (
      (await client.query('SELECT id FROM failed_records WHERE id = $1 FOR SHARE SKIP LOCKED', [id])).rows.length === 0
    );
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

test(
  'a claim session that goes silent aborts its handlers before Postgres may free their rows' +
    ', and starts nothing more',
  async () => {
    const url = new URL(db.url);
    const proxy = new TcpProxy(url.hostname, Number(url.port));
    await proxy.start();
    url.port = String(proxy.port);
    await insert('long', 6);
    const aborts: { at: number; reason: unknown }[] = [];
    let starts = 0;
    let silentAt = 0;
    let sessionEnd: Awaited<ReturnType<typeof watchSessionEnd>> | undefined;
    try {
      await withWorker(
        { ...db, url: url.toString() },
        'silent-session',
        {
          long: (_record, ctx) => {
            starts++;
            return new Promise<void>((_, reject) =>
              ctx.signal.addEventListener('abort', () => {
                aborts.push({ at: Date.now(), reason: ctx.signal.reason });
                reject(ctx.signal.reason);
              }),
            );
          },
        },
        async () => {
          await waitFor('two handlers to run', () => starts === 2 || undefined);
          sessionEnd = await watchSessionEnd('retry-worker silent-session');
          proxy.hold(); // every byte between the worker and Postgres is dropped from now on
          silentAt = Date.now();
          await waitFor('the handlers to be aborted', () => aborts.length === 2 || undefined, 10_000);
          await waitFor('Postgres to end the session', () => sessionEnd!.endedAt(), 10_000);
          sessionEnd!.stop();
          proxy.heal();
        },
        { settings: { concurrency: 2 } },
      );
    } finally {
      await proxy.stop();
    }
    const endedAt = sessionEnd!.endedAt()!;
    for (const abort of aborts) {
      assert.ok(
        abort.reason instanceof ExecutionAborted && abort.reason.reason === 'rows-uncertain',
        `aborted for ${String(abort.reason)}`,
      );
      assert.ok(abort.at < endedAt, `a handler ran on ${abort.at - endedAt} ms after Postgres ended its session`);
    }
    assert.ok(
      endedAt - silentAt <= 5_000 + 500,
      `Postgres ended the silent session ${endedAt - silentAt} ms after the link went silent`,
    );
    assert.equal(starts, 2, 'nothing else started');
  },
);

test(
  'a pause the monotonic clock does not see (a suspended host)' +
    ' does not let a handler start on rows Postgres may have freed',
  async () => {
    // The monotonic source freezes while the process is "suspended"; the wall clock does not.
    let frozenAt: number | undefined;
    let missedMs = 0;
    const monotonic = () => (frozenAt ?? performance.now()) - missedMs;
    const clock = safeClock({ monotonic, wall: () => Date.now() });
    const ids = await insert('step', 30);
    const starts: { id: number; locked: boolean }[] = [];
    let entered = 0;
    let gate!: () => void;
    const open = new Promise<void>((resolve) => (gate = resolve));
    await withWorker(
      db,
      'suspended',
      {
        step: async (record) => {
          // The first returns as soon as it resumes, so that the next one would start in the same turn of the
          // event loop, before the news of the ended session arrives: only the clock can stop it.
          if (++entered === 1) return open;
          // Checked from outside while the handler runs: a handler must only ever run while its row is locked.
          starts.push({ id: record.id, locked: await isLocked(record.id) });
        },
      },
      async () => {
        await waitFor('the first handler to run', () => entered === 1 || undefined);
        // Suspend: nothing runs for 6 s (the claim session's idle timeout is 5 s), and the monotonic clock
        // does not advance. Postgres ends the session meanwhile and frees the batch's rows.
        frozenAt = performance.now();
        const until = Date.now() + 6_000;
        while (Date.now() < until) {
          // a suspended host: no timer, no I/O
        }
        missedMs += performance.now() - frozenAt;
        frozenAt = undefined;
        gate(); // the running handler returns; the next record would start now unless the pause is seen
        await waitFor(
          'every record to settle',
          async () => {
            const { rows } = await db.pool.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM failed_records WHERE id = ANY($1) AND status = 'pending'`,
              [ids],
            );
            return rows[0]!.n === 0 || undefined;
          },
          20_000,
        );
      },
      { settings: { concurrency: 1, batchSize: 30 }, clock },
    );
    const unlocked: number[] = [];
    for (const start of starts) if (!start.locked) unlocked.push(start.id);
    assert.deepEqual(unlocked, [], `${unlocked.length} handlers started on rows whose locks Postgres had freed`);
    assert.ok(starts.length >= 29, 'every other record ran, under a claim made after the pause');
  },
);

test(
  'a handler that blocks the event loop longer than the row-lock margin' +
    ' ends the term as stalled, and aborts the others',
  async () => {
    await insert('block', 1);
    await insert('wait', 1);
    const aborted: unknown[] = [];
    const run = await withWorker(
      db,
      'stalled',
      {
        wait: (_record, ctx) =>
          new Promise<void>((_, reject) =>
            ctx.signal.addEventListener('abort', () => {
              aborted.push(ctx.signal.reason);
              reject(ctx.signal.reason);
            }),
          ),
        block: async () => {
          await new Promise((r) => setTimeout(r, 100)); // let the other one start
          const until = Date.now() + 2_000; // over the margin (1.25 s at the default TTL)
          while (Date.now() < until) {
            // blocks
          }
        },
      },
      async (r) => {
        await waitFor(
          'the stall to be noticed',
          () => r.logs.find((l) => String(l.msg).startsWith('the event loop stalled')),
          10_000,
        );
        await waitFor('the waiting handler to be aborted', () => aborted.length === 1 || undefined, 5_000);
      },
      { settings: { concurrency: 2 } },
    );
    assert.ok(aborted[0] instanceof ExecutionAborted && aborted[0].reason === 'stalled');
    const ended = run.logs.find((l) => l.msg === 'leadership ended');
    assert.equal(ended?.reason, 'stalled', run.text());
  },
);
