import assert from 'node:assert/strict';
import { test } from 'node:test';
import { safeClock } from '../src/clock.js';
import { Term } from '../src/election/term.js';

function sources() {
  const s = { mono: 1_000, wall: 1_700_000_000_000 };
  return { s, clock: safeClock({ monotonic: () => s.mono, wall: () => s.wall }) };
}

test('the safe clock follows the monotonic clock while both advance alike', () => {
  const { s, clock } = sources();
  const t0 = clock();
  s.mono += 500;
  s.wall += 500;
  assert.equal(clock() - t0, 500);
});

test('a pause the monotonic clock did not see (the wall clock leapt) moves the safe clock forward', () => {
  const { s, clock } = sources();
  const t0 = clock();
  s.wall += 60_000; // a suspended host: only the wall clock knows
  assert.ok(clock() - t0 >= 60_000 - 20);
});

test('a wall clock stepped back neither moves the safe clock back nor hides a later leap', () => {
  const { s, clock } = sources();
  const t0 = clock();
  s.wall -= 3_600_000;
  s.mono += 100;
  s.wall += 100;
  const t1 = clock();
  assert.equal(t1 - t0, 100);
  s.wall += 10_000;
  assert.ok(clock() - t1 >= 10_000 - 20);
});

test('a term read from a frozen monotonic clock is not safe after its lease has passed by the wall clock', () => {
  const { s, clock } = sources();
  const term = new Term(7, 'token', clock() + 3_750, clock);
  assert.equal(term.isSafe(), true);
  s.wall += 4_000; // the monotonic clock stands still, as across a suspend
  assert.equal(term.isSafe(), false);
});
