import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { PermanentFailure, RetryLater } from '../../src/errors.js';
import { AbortFanout } from '../../src/executor/abort-fanout.js';
import { Deadlines } from '../../src/executor/deadlines.js';
import { ExecutionTimeout, executeRecord, type ExecutionSettings } from '../../src/executor/execute-record.js';
import type { FailedRecord, Handler } from '../../src/executor/handler.js';

const args = (handler: Handler | undefined, overrides: Partial<ExecutionSettings> = {}): [ExecutionSettings, Handler | undefined, FailedRecord] => [
  {
    knownKinds: 'http, noop',
    parent: new AbortFanout(new AbortController().signal),
    timeouts: new Deadlines(1_000),
    abandonAfterMs: 100,
    fencingToken: 42,
    replicaId: 'r1',
    log: pino({ level: 'silent' }),
    ...overrides,
  },
  handler,
  { id: 7, kind: 'thing', payload: {}, attempt: 2, maxAttempts: 5 },
];

test('a handler that returns succeeded, and sees attempt, fencing token and replica id', async () => {
  let seen: unknown;
  const outcome = await executeRecord(...args(async (record, ctx) => {
    seen = { attempt: ctx.attempt, token: ctx.fencingToken, replica: ctx.replicaId, id: record.id };
  }));
  assert.deepEqual(outcome, { kind: 'succeeded' });
  assert.deepEqual(seen, { attempt: 2, token: 42, replica: 'r1', id: 7 });
});

test('throwing means failed, PermanentFailure means dead, RetryLater carries its delay', async () => {
  assert.equal((await executeRecord(...args(async () => { throw new Error('boom'); }))).kind, 'failed');
  assert.equal((await executeRecord(...args(async () => { throw new PermanentFailure('no'); }))).kind, 'dead');
  const later = await executeRecord(...args(async () => { throw new RetryLater('busy', 3_000); }));
  assert.equal(later.kind === 'failed' && later.retryAfterMs, 3_000);
});

test('an unknown kind is dead with a message naming it and the known kinds', async () => {
  const outcome = await executeRecord(...args(undefined));
  assert.equal(outcome.kind, 'dead');
  assert.match(outcome.kind === 'dead' ? outcome.error.message : '', /unknown kind "thing".*known kinds: http, noop/);
});

test('the execution timeout aborts the signal and counts as a failed attempt', async () => {
  let aborted = false;
  const outcome = await executeRecord(...args(
    (_r, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => { aborted = true; reject(ctx.signal.reason); })),
    { timeouts: new Deadlines(50) },
  ));
  assert.ok(aborted);
  assert.equal(outcome.kind, 'failed');
  assert.ok(outcome.kind === 'failed' && outcome.error instanceof ExecutionTimeout);
});

test('a wrapper that copies the context ({ ...ctx, log }) keeps its signal, attempt and fencing token', async () => {
  const inner: Handler = (_r, ctx) =>
    new Promise((_, reject) => {
      assert.deepEqual([ctx.attempt, ctx.fencingToken, ctx.replicaId], [2, 42, 'r1']);
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
    });
  const wrapped: Handler = (record, ctx) => inner(record, { ...ctx, log: ctx.log.child({ wrapped: true }) });
  const outcome = await executeRecord(...args(wrapped, { timeouts: new Deadlines(30) }));
  assert.ok(outcome.kind === 'failed' && outcome.error instanceof ExecutionTimeout, 'the copy saw the timeout abort');
});

test('a handler that ignores its signal is abandoned after the grace period, as a failure', async () => {
  const outcome = await executeRecord(...args(() => new Promise(() => undefined), { timeouts: new Deadlines(30), abandonAfterMs: 30 }));
  assert.equal(outcome.kind, 'failed');
});

test('a parent signal (lost connection, shutdown timeout) aborts the handler with its reason', async () => {
  const parent = new AbortController();
  setTimeout(() => parent.abort(new Error('term 9 ended: deadline')), 20);
  const outcome = await executeRecord(...args(
    (_r, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))),
    { parent: new AbortFanout(parent.signal) },
  ));
  assert.equal(outcome.kind, 'failed');
  assert.match(outcome.kind === 'failed' ? outcome.error.message : '', /term 9 ended/);
});

test('a signal first read after the timeout is already aborted, with the timeout as its reason', async () => {
  let readLate: AbortSignal | undefined;
  const outcome = await executeRecord(...args(
    (_r, ctx) => new Promise<void>((resolve) => setTimeout(() => {
      readLate = ctx.signal;
      resolve();
    }, 60)),
    { timeouts: new Deadlines(20), abandonAfterMs: 500 },
  ));
  // The handler resolved after the timeout: it ran to its end, so it succeeded; its signal still said why it was told to stop.
  assert.equal(outcome.kind, 'succeeded');
  assert.ok(readLate?.aborted);
  assert.ok(readLate?.reason instanceof ExecutionTimeout);
});

test('a parent that aborted before the start hands the handler an aborted signal; a synchronous throw is a failure', async () => {
  const parent = new AbortController();
  parent.abort(new Error('database connection lost'));
  let sawAborted = false;
  const outcome = await executeRecord(...args((_r, ctx) => {
    sawAborted = ctx.signal.aborted;
    throw new Error('stopping');
  }, { parent: new AbortFanout(parent.signal) }));
  assert.ok(sawAborted);
  assert.equal(outcome.kind, 'failed');
  assert.match(outcome.kind === 'failed' ? outcome.error.message : '', /database connection lost: stopping/);
});

test('a handler returning a thenable whose then() throws fails the execution instead of escaping', async () => {
  const outcome = await executeRecord(...args(() => ({ then() { throw new Error('broken thenable'); } }) as unknown as Promise<void>));
  assert.equal(outcome.kind, 'failed');
  assert.match(outcome.kind === 'failed' ? outcome.error.message : '', /broken thenable/);
});
