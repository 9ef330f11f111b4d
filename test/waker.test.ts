import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Slots } from '../src/waker.js';

test('runEach never runs more than the slots at once, across callers, and starts items in the order handed in', async () => {
  const slots = new Slots(3);
  let running = 0;
  let most = 0;
  const started: string[] = [];
  const start = (name: string) => async () => {
    started.push(name);
    running++;
    most = Math.max(most, running);
    await sleep(5);
    running--;
    return name.toUpperCase();
  };
  const first = slots.runEach(['a', 'b', 'c', 'd', 'e'], (x) => start(x)());
  const second = slots.runEach(['f', 'g'], (x) => start(x)());
  assert.deepEqual(await first, ['A', 'B', 'C', 'D', 'E']);
  assert.deepEqual(await second, ['F', 'G']);
  assert.equal(most, 3);
  assert.deepEqual(started, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
});

test('runEach takes results that are not promises, and many of them, without stack growth', async () => {
  const slots = new Slots(2);
  const items = Array.from({ length: 100_000 }, (_, i) => i);
  const results = await slots.runEach(items, (i) => i * 2);
  assert.equal(results.length, items.length);
  assert.equal(results[99_999], 199_998);
});

test('runEach rejects with the first error only after every item has settled', async () => {
  const slots = new Slots(2);
  const settled: number[] = [];
  const run = slots.runEach([1, 2, 3, 4], async (i) => {
    await sleep(i === 1 ? 1 : 10);
    settled.push(i);
    if (i === 1) throw new Error('first');
    if (i === 3) throw new Error('third');
    return i;
  });
  await assert.rejects(run, /first/);
  assert.deepEqual(settled.sort(), [1, 2, 3, 4]);
  // The slots are free again afterwards.
  assert.deepEqual(await slots.runEach([5], (i) => i), [5]);
});

test('runEach of nothing resolves at once', async () => {
  assert.deepEqual(await new Slots(1).runEach([], () => 1), []);
});
