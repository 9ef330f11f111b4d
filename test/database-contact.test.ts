import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FencedError } from '../src/errors.js';
import { DatabaseContact } from '../src/loop/database-contact.js';

const GRACE_MS = 80;

function contact() {
  let now = 1_000;
  const lost: number[] = [];
  const c = new DatabaseContact(
    () => now,
    GRACE_MS,
    (ms) => void lost.push(ms),
  );
  return { c, lost, at: (ms: number) => (now = ms) };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a failure noticed after the grace (a statement timeout) is counted from when the statement was sent', () => {
  const { c, lost, at } = contact();
  at(1_000 + GRACE_MS + 5); // the answer never came; the timeout fired now
  c.failed(1_000, new Error('claim timed out'));
  assert.deepEqual(lost, [GRACE_MS + 5]);
  assert.equal(c.isLost, true);
  c.failed(1_000, new Error('again'));
  assert.equal(lost.length, 1, 'lost once');
});

test('an answer to a statement sent after the trouble began clears it; one sent before does not', async () => {
  const { c, lost, at } = contact();
  c.failed(1_000, new Error('heartbeat failed'));
  c.answered(990); // sent before the failing one: proves nothing about now
  at(1_010);
  c.answered(1_005); // sent after: Postgres answers again
  await wait(GRACE_MS + 40);
  assert.deepEqual(lost, [], 'no loss once Postgres answered again');
  assert.equal(c.isLost, false);

  c.failed(1_020, new Error('ledger write failed'));
  c.answered(1_000);
  await wait(GRACE_MS + 40);
  at(1_020 + GRACE_MS);
  assert.equal(lost.length, 1, 'the timer ended it while nothing newer was answered');
});

test('the grace runs from the earliest failing statement, even if a later one fails first', async () => {
  const { c, lost, at } = contact();
  at(1_050);
  c.failed(1_040, new Error('claim'));
  c.failed(1_000 - GRACE_MS, new Error('a heartbeat sent long ago timed out just now'));
  assert.equal(lost.length, 1);
  c.stop();
});

test('stop() disarms the timer', async () => {
  const { c, lost } = contact();
  c.failed(1_000, new Error('x'));
  c.stop();
  await wait(GRACE_MS + 40);
  assert.deepEqual(lost, []);
});

test('report(): a fence refusal is an answer; any other error counts against the database', async () => {
  const { c, lost, at } = contact();
  c.failed(1_000, new Error('heartbeat failed'));
  at(1_010);
  await assert.rejects(c.report(1_005, Promise.reject(new FencedError(3, 4))), FencedError);
  at(1_000 + GRACE_MS + 5);
  c.failed(1_006, new Error('claim'));
  assert.deepEqual(lost, [], 'the refusal, sent after the trouble began, cleared it');
  assert.equal(await c.report(1_090, Promise.resolve('rows')), 'rows');
  await assert.rejects(c.report(1_000 - GRACE_MS, Promise.reject(new Error('timed out'))), /timed out/);
  assert.equal(lost.length, 1);
  c.stop();
});
