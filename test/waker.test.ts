import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Waker } from '../src/waker.js';

test('a wake with nobody waiting ends the next wait at once', async () => {
  const waker = new Waker();
  waker.wake();
  const started = performance.now();
  await waker.wait(10_000);
  assert.ok(performance.now() - started < 100);
});

test('wake ends a wait in progress; an aborted signal ends it too; a finite wait times out', async () => {
  const waker = new Waker();
  const woken = waker.wait(10_000).then(() => 'woken');
  waker.wake();
  assert.equal(await woken, 'woken');
  const controller = new AbortController();
  const aborted = waker.wait(10_000, controller.signal).then(() => 'aborted');
  controller.abort();
  assert.equal(await aborted, 'aborted');
  const started = performance.now();
  await waker.wait(20);
  assert.ok(performance.now() - started >= 15);
});

test('an infinite wait has no timer: it ends only by a wake', async () => {
  const waker = new Waker();
  let ended = false;
  const waiting = waker.wait(Number.POSITIVE_INFINITY).then(() => {
    ended = true;
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(ended, false, 'a setTimeout of Infinity would have fired at once');
  waker.wake();
  await waiting;
  assert.equal(ended, true);
});
