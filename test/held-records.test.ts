import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClaimedRecord } from '../src/db/claim-records.js';
import { HeldRecords } from '../src/run-batch.js';

const records = (...ids: number[]): ClaimedRecord[] => ids.map((id) => ({ id, kind: 'noop', payload: {}, attempts: 0, maxAttempts: 5 }));
const settledSoon = (p: Promise<void>) => Promise.race([p.then(() => 'held'), new Promise((r) => setTimeout(() => r('waiting'), 20))]);

test('a batch that claims a record another open batch still holds waits for that batch to end; others do not wait', async () => {
  const held = new HeldRecords();
  let endFirst!: () => void;
  const first = new Promise<void>((r) => (endFirst = r));
  assert.equal(await settledSoon(held.hold(records(1, 2), first)), 'held', 'nothing held them before');
  assert.equal(await settledSoon(held.hold(records(3, 4), new Promise(() => undefined))), 'held', 'other records: no wait');
  const second = held.hold(records(2, 5), new Promise(() => undefined));
  assert.equal(await settledSoon(second), 'waiting', 'record 2 is still held by the first batch');
  endFirst();
  assert.equal(await settledSoon(second), 'held');
  assert.equal(await settledSoon(held.hold(records(1), Promise.resolve())), 'held', 'the first batch released record 1 when it ended');
});
