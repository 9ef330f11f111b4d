import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Deadlines, type Deadline, type Expiring } from '../../src/executor/deadlines.js';

const expiring = (fn: () => unknown): Expiring => ({ expire: () => void fn() });

test('a deadline that is not cancelled expires after its time, once; a cancelled one never does', async () => {
  const deadlines = new Deadlines(30);
  const fired: string[] = [];
  const started = performance.now();
  let firedAt = 0;
  deadlines.add(expiring(() => {
    fired.push('kept');
    firedAt = performance.now();
  }));
  const cancelled = deadlines.add(expiring(() => fired.push('cancelled')));
  deadlines.cancel(cancelled);
  deadlines.cancel(cancelled); // twice is harmless
  assert.equal(deadlines.pending, 1);
  await sleep(80);
  assert.deepEqual(fired, ['kept']);
  assert.ok(firedAt - started >= 29, `expired after ${firedAt - started} ms, before its 30 ms`);
  assert.equal(deadlines.pending, 0);
});

test('deadlines added after others expire in order, each at its own time', async () => {
  const deadlines = new Deadlines(40);
  const fired: number[] = [];
  deadlines.add(expiring(() => fired.push(1)));
  await sleep(25);
  deadlines.add(expiring(() => fired.push(2)));
  await sleep(25); // 50 ms: the first is due, the second (due at 65) is not
  assert.deepEqual(fired, [1]);
  await sleep(40);
  assert.deepEqual(fired, [1, 2]);
});

test('an expiry that adds a deadline gets it served too', async () => {
  const deadlines = new Deadlines(20);
  const fired: string[] = [];
  deadlines.add(expiring(() => {
    fired.push('first');
    deadlines.add(expiring(() => fired.push('second')));
  }));
  await sleep(100);
  assert.deepEqual(fired, ['first', 'second']);
});

test('cancelling out of order keeps the live deadlines, across the sweep of many cancelled ones', async () => {
  const deadlines = new Deadlines(60);
  const fired: number[] = [];
  const slow = deadlines.add(expiring(() => fired.push(-1))); // the oldest stays live: cancelled ones pile up behind it
  const live: number[] = [];
  for (let i = 0; i < 5_000; i++) {
    const d = deadlines.add(expiring(() => fired.push(i)));
    if (i % 1_000 === 999) live.push(i);
    else deadlines.cancel(d);
  }
  assert.equal(deadlines.pending, 1 + live.length);
  deadlines.cancel(slow);
  await sleep(150);
  assert.deepEqual(fired, live);
  assert.equal(deadlines.pending, 0);
});

/** Timers that keep the process alive (an unref'd timer is not listed). */
const heldTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('a replica with only cancelled deadlines can exit: the timer does not hold the process', () => {
  const before = heldTimers();
  const deadlines = new Deadlines(60_000);
  const deadline = deadlines.add(expiring(() => undefined));
  assert.equal(heldTimers(), before + 1, 'a pending deadline holds the process');
  deadlines.cancel(deadline);
  assert.equal(heldTimers(), before, 'a cancelled one does not');
});

test('an expiry that adds a deadline which a later expiry of the same pass cancels, before a third expires, leaves nothing holding the process', async () => {
  const before = heldTimers();
  const deadlines = new Deadlines(50);
  let added: Deadline | undefined;
  const passDone = new Promise<void>((resolve) => {
    // All three expire in one pass (added microseconds apart, served by one timer that fires at least 1 ms
    // late); the one the first adds is cancelled by the second while the third is still pending.
    deadlines.add(expiring(() => (added = deadlines.add(expiring(() => undefined)))));
    deadlines.add(expiring(() => deadlines.cancel(added!)));
    deadlines.add(expiring(resolve));
  });
  await passDone;
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(deadlines.pending, 0);
  assert.equal(heldTimers(), before, 'nothing is pending, yet a timer holds the process');
});
