import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { resolveConfig } from '../src/config.js';
import type { ClaimedRow } from '../src/db/claim-records.js';
import type { KindRegistry } from '../src/executor/kinds.js';
import { kindRegistry } from '../src/executor/load-handlers.js';
import { AttemptLedger } from '../src/loop/attempt-ledger.js';
import type { Batch, Entry } from '../src/loop/batch.js';
import { ClaimPace } from '../src/loop/claim-pace.js';
import { DatabaseContact } from '../src/loop/database-contact.js';
import { KindLimits } from '../src/loop/kind-limits.js';
import { StartQueue } from '../src/loop/start-queue.js';
import { waitFor } from './support/ports.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

// A kind at its rate waits in the start queue for its next token, and always starts once it comes.

const config = resolveConfig({ databaseUrl: 'postgres://x@127.0.0.1/x' });
const handle = async () => undefined;
const kinds = kindRegistry(config, { paced: { handle, ratePerSecond: 4 }, capped: { handle, concurrency: 1 } });

// The queue writes its waves to a real ledger; the batch stands in for the claim's transaction and only notes
// which records it was asked to start.
let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

test('waitToStart takes a token and says 0, or says how long: a token at least 1 ms away, a free slot never', () => {
  let now = 0;
  const limits = new KindLimits(kinds, () => now);
  const paced = kinds.get('paced')!;
  for (let i = 0; i < 4; i++) assert.equal(limits.waitToStart(paced), 0, 'a burst of one second’s worth');
  assert.equal(limits.waitToStart(paced), 250);
  now += 249.999;
  assert.equal(limits.waitToStart(paced), 1, 'a token a hair away is still a wait, never 0');
  now += 0.001;
  assert.equal(limits.waitToStart(paced), 0);
  const capped = kinds.get('capped')!;
  assert.equal(limits.waitToStart(capped), 0);
  limits.started('capped');
  assert.equal(limits.waitToStart(capped), Number.POSITIVE_INFINITY, 'only an execution’s end frees the slot');
  limits.finished('capped');
  assert.equal(limits.waitToStart(capped), 0);
});

test('a rate caps a claim at the tokens it has now; roomInMs() says when the next one comes', () => {
  let now = 0;
  const limits = new KindLimits(kinds, () => now);
  const paced = kinds.get('paced')!;
  assert.equal(limits.caps().get('paced'), 4, 'a full bucket: one second’s worth');
  limits.claimed([{ kind: 'paced' }, { kind: 'paced' }, { kind: 'paced' }, { kind: 'paced' }], limits.caps());
  limits.queued('paced', 4);
  assert.equal(limits.caps().get('paced'), 0, 'the claimed four will take every token');
  for (let i = 0; i < 4; i++) {
    assert.equal(limits.waitToStart(paced), 0);
    limits.queued('paced', -1);
  }
  assert.equal(limits.caps().get('paced'), 0, 'no token: a record claimed now would wait, holding its batch');
  assert.equal(limits.roomInMs(), 250, 'the loop claims again when the next token comes');
  now += 250;
  assert.equal(limits.caps().get('paced'), 1);
  limits.claimed([], limits.caps());
  assert.equal(limits.roomInMs(), Number.POSITIVE_INFINITY, 'a claim that found none due ends the wait for it');
  limits.claimed([{ kind: 'capped' }], limits.caps());
  assert.equal(limits.roomInMs(), Number.POSITIVE_INFINITY, 'a kind at its concurrency waits for an end, no timer');
});

test('a record refused for its rate starts when its token comes, even one that came while it was refused', async () => {
  // Each scenario's clock moves 1 ms (0.004 of a token at 4 a second) every time it is read, and jumps once, by
  // `jumpMs`, after the fifth record is refused: the jumps sweep the token count at the timer's next look across
  // 1, so that in some of them the token arrives between two readings of one look. That once left a record
  // parked with no timer to wake it (its batch held its row, and those of the records beside it, for good).
  const scenarios = Array.from({ length: 81 }, (_, i) => 230 + i / 4).map(async (jumpMs) => {
    let now = 0;
    const clock = () => (now += 1);
    const { queue, started, entry } = startQueue(kinds, clock);
    const records = [1, 2, 3, 4, 5].map((id) => entry('paced', id));
    queue.push(records);
    await waitFor('the burst of four', async () => (started.length === 4 ? true : undefined), 2_000);
    await waitFor('the fifth in the ledger', async () => (await recorded(records[4]!)) || undefined, 2_000);
    await new Promise((resolve) => setImmediate(resolve)); // and refused, for want of a token
    assert.equal(started.length, 4, 'the fifth waits for a token');
    now += jumpMs;
    await waitFor(
      `the fifth record to start (jump ${jumpMs} ms)`,
      async () => (started.length === 5 ? true : undefined),
      2_000,
    );
  });
  await Promise.all(scenarios);
});

/** Whether the entry's attempt is in the ledger. */
async function recorded(e: Entry): Promise<boolean> {
  const { rows } = await db.pool.query('SELECT 1 FROM retry_worker_attempts WHERE record_uid = $1', [e.row.uid]);
  return rows.length > 0;
}

/**
 * A start queue over `registry`, writing to the ledger of the test database, whose records start as soon as it
 * lets them (`started`, their ids in order).
 */
function startQueue(registry: KindRegistry, clock: () => number) {
  const started: number[] = [];
  const batch = { start: (e: Entry) => started.push(e.row.id) > 0, skip: () => undefined } as unknown as Batch;
  const log = pino({ level: 'silent' });
  const contact = new DatabaseContact(clock, 10_000, () => undefined);
  const ledger = new AttemptLedger(db.pool, 1, 'start-queue-test', 5_000, log, contact, clock);
  const limits = new KindLimits(registry, clock);
  const queue = new StartQueue(ledger, limits, log, new ClaimPace(20, 2_000, clock), () => undefined);
  const entry = (kind: string, id: number): Entry => {
    const row = { id, uid: randomUUID(), kind, payload: {}, payloadBytes: 2, attempts: 0 } as ClaimedRow;
    return { batch, row, kind: registry.get(kind)!, attempt: 1, maxAttempts: 3 };
  };
  return { queue, started, entry };
}

test('a kind whose token comes sooner is not held to the timer of a slower kind', async () => {
  const limits = kindRegistry(config, {
    slow: { handle, ratePerSecond: 0.5 },
    fast: { handle, ratePerSecond: 4 },
  });
  const { queue, started, entry } = startQueue(limits, () => performance.now());
  // The slow kind's second record waits 2 s for its token, the fast kind's fifth 250 ms.
  queue.push([1, 2].map((id) => entry('slow', id)));
  queue.push([3, 4, 5, 6, 7].map((id) => entry('fast', id)));
  await waitFor('all seven to start', async () => (started.length === 7 ? true : undefined), 5_000);
  assert.ok(
    started.indexOf(7) < started.indexOf(2),
    `the fast kind's fifth started before the slow kind's second: ${started.join(' ')}`,
  );
});
