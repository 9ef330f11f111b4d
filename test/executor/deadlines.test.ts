import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Deadlines, type Expiring } from '../../src/executor/deadlines.js';

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

test('a replica with only cancelled deadlines can exit: the timer does not hold the process', async () => {
  const { spawnSync } = await import('node:child_process');
  const url = new URL('../../src/executor/deadlines.js', import.meta.url).href;
  const script = `const { Deadlines } = await import(${JSON.stringify(url)}); const d = new Deadlines(60_000); d.cancel(d.add({ expire() {} })); const t = performance.now(); process.on('exit', () => console.log(Math.round(performance.now() - t)));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.ok(Number(run.stdout) < 10_000, `the process stayed ${run.stdout} ms for a cancelled 60 s deadline`);
});

test('an expiry that adds a deadline which a later expiry of the same pass cancels, before a third expires, leaves nothing holding the process', async () => {
  const { spawnSync } = await import('node:child_process');
  const url = new URL('../../src/executor/deadlines.js', import.meta.url).href;
  // All three expire in one pass (added microseconds apart, served by one timer that fires at least 1 ms
  // late); the deadline the first adds, cancelled while the third is still pending, must not hold the process
  // for another second.
  const script = `const { Deadlines } = await import(${JSON.stringify(url)}); const d = new Deadlines(1_000); let added;
    d.add({ expire() { added = d.add({ expire() {} }); } }); d.add({ expire() { d.cancel(added); } }); d.add({ expire() {} });
    const t = performance.now(); process.on('exit', () => console.log(Math.round(performance.now() - t)));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.ok(Number(run.stdout) < 1_800, `the process stayed ${run.stdout} ms: the cancelled deadline held it past the first second`);
});
