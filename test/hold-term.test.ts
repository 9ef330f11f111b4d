import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { holdTerm } from '../src/election/hold-term.js';
import { Term } from '../src/election/term.js';

/** holdTerm with a lease that records when it was given back, and an onTerm that ends when told to. */
function held() {
  const events: string[] = [];
  const term = new Term(7, 'token', performance.now() + 60_000, () => performance.now());
  let finish!: () => void;
  const onTermDone = new Promise<void>((resolve) => (finish = resolve));
  const holding = holdTerm({
    term,
    lease: {
      renew: async () => 60_000,
      release: async () => void events.push('lease released'),
    },
    onTerm: async () => {
      await onTermDone;
      events.push('onTerm settled');
    },
    renewEveryMs: 1_000,
    renewRetryMs: 100,
    marginMs: 0,
    clock: () => performance.now(),
    log: pino({ level: 'silent' }),
  });
  return { term, events, finish, holding };
}

test('a term lost while its executions settle gives the lease back at once', async () => {
  for (const reason of ['fenced', 'database-unreachable', 'stalled', 'deadline'] as const) {
    const { term, events, finish, holding } = held();
    term.end(reason);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(events, ['lease released'], `${reason}: released before onTerm settled`);
    finish();
    await holding;
    assert.deepEqual(events, ['lease released', 'onTerm settled'], `${reason}: released once`);
  }
});

test('a resignation keeps the lease until onTerm has settled', async () => {
  const { term, events, finish, holding } = held();
  term.end('resigned');
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(events, []);
  finish();
  await holding;
  assert.deepEqual(events, ['onTerm settled', 'lease released']);
});
