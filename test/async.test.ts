import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sleep, withTimeout } from '../src/async.js';
import { TimeoutError } from '../src/errors.js';

test('withTimeout hands a value that arrives after the timeout to disposeLate, and only then', async () => {
  const disposed: string[] = [];
  const late = sleep(60).then(() => 'late stream');
  await assert.rejects(
    withTimeout(late, 10, 'opening', (v) => disposed.push(v)),
    TimeoutError,
  );
  await late;
  await sleep(0);
  assert.deepEqual(disposed, ['late stream']);

  const early = await withTimeout(Promise.resolve('in time'), 1_000, 'opening', (v) => disposed.push(v));
  assert.equal(early, 'in time');
  await sleep(0);
  assert.deepEqual(disposed, ['late stream']);
});
