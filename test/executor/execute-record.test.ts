import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { ExecutionAborted, PermanentFailure, RetryLater } from '../../src/errors.js';
import { Execution, type ExecutionSettings } from '../../src/executor/execute-record.js';
import type { Handler } from '../../src/executor/handler.js';

const settings = (overrides: Partial<ExecutionSettings> = {}): ExecutionSettings => ({
  timeoutMs: 1_000,
  abandonAfterMs: 100,
  fencingToken: 42,
  rowsSafe: () => true,
  replicaId: 'r1',
  log: pino({ level: 'silent' }),
  ...overrides,
});
const record = {
  id: 7,
  uid: '6f1c1b9e-0d4a-4a6e-9a43-4f0c0f3c1f00',
  kind: 'thing',
  payload: {},
  attempt: 2,
  maxAttempts: 5,
};
const run = (handler: Handler, overrides: Partial<ExecutionSettings> = {}) =>
  new Execution(handler, record, settings(overrides));

test('a handler that returns succeeded, and sees attempt, fencing token, replica id and its record', async () => {
  let seen: unknown;
  const outcome = await run(async (r, ctx) => {
    seen = { attempt: ctx.attempt, token: ctx.fencingToken, replica: ctx.replicaId, id: r.id, uid: r.uid };
  }).run();
  assert.deepEqual(outcome, { kind: 'succeeded' });
  assert.deepEqual(seen, { attempt: 2, token: 42, replica: 'r1', id: 7, uid: record.uid });
});

test('throwing means failed, PermanentFailure means dead, RetryLater carries its delay; a sync throw too', async () => {
  assert.equal(
    (
      await run(async () => {
        throw new Error('boom');
      }).run()
    ).kind,
    'failed',
  );
  assert.equal(
    (
      await run(() => {
        throw new PermanentFailure('no');
      }).run()
    ).kind,
    'dead',
  );
  const later = await run(async () => {
    throw new RetryLater('busy', 3_000);
  }).run();
  assert.equal(later.kind === 'failed' && later.retryAfterMs, 3_000);
  const odd = await run(async () => {
    throw 'a string';
  }).run();
  assert.equal(odd.kind === 'failed' && odd.error.message, 'a string');
});

test('the execution timeout aborts the signal with reason timeout and counts as a failed attempt', async () => {
  let reason: unknown;
  const outcome = await run(
    (_r, ctx) =>
      new Promise((_, reject) =>
        ctx.signal.addEventListener('abort', () => {
          reason = ctx.signal.reason;
          reject(new Error('stopped'));
        }),
      ),
    { timeoutMs: 30 },
  ).run();
  assert.ok(reason instanceof ExecutionAborted && reason.reason === 'timeout');
  assert.equal(outcome.kind, 'failed');
  assert.match(outcome.kind === 'failed' ? outcome.error.message : '', /execution timed out after 30 ms: stopped/);
});

test(
  'abort() from outside reaches the signal' + '; a handler that ignores it is given up on after abandonAfterMs',
  async () => {
    const execution = run(() => new Promise(() => undefined), { abandonAfterMs: 40 });
    const outcome = execution.run();
    const abortedAt = performance.now();
    execution.abort(new ExecutionAborted('rows-uncertain', 'the row lock is no longer certain'));
    assert.ok(execution.signal.aborted);
    const result = await outcome;
    assert.ok(performance.now() - abortedAt >= 39, 'given up on only once abandonAfterMs had passed');
    assert.equal(result.kind, 'failed');
    assert.ok(
      result.kind === 'failed' && result.error instanceof ExecutionAborted && result.error.reason === 'rows-uncertain',
    );
  },
);

test('ctx.log is a child logger bound to the record, made only when read', async () => {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  await run(async (_r, ctx) => ctx.log.info('hello'), { log }).run();
  assert.equal(lines.length, 1);
  assert.deepEqual([lines[0]!.recordId, lines[0]!.attempt, lines[0]!.kind, lines[0]!.msg], [7, 2, 'thing', 'hello']);
});

test('a wrapper that copies ctx ({ ...ctx, log }) keeps its signal, attempt, fencing token, replica id', async () => {
  const inner: Handler = (_r, ctx) =>
    new Promise((_, reject) => {
      assert.deepEqual([ctx.attempt, ctx.fencingToken, ctx.replicaId], [2, 42, 'r1']);
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
    });
  const wrapped: Handler = (record, ctx) => inner(record, { ...ctx, log: ctx.log.child({ wrapped: true }) });
  const outcome = await run(wrapped, { timeoutMs: 30 }).run();
  assert.match(outcome.kind === 'failed' ? outcome.error.message : '', /execution timed out after 30 ms/);
  assert.deepEqual(Object.keys(await ctxOf()), ['attempt', 'fencingToken', 'replicaId', 'isSafe', 'signal', 'log']);
});

/** The ctx a handler gets. */
async function ctxOf() {
  let seen: object | undefined;
  await run((_r, ctx) => {
    seen = ctx;
  }).run();
  return seen!;
}

test('ctx.isSafe, even taken off ctx: true while running, false once aborted, rows uncertain or ended', async () => {
  let rowsSafe = true;
  const seen: boolean[] = [];
  let later: (() => boolean) | undefined;
  const execution = run(
    async (_r, ctx) => {
      const { isSafe } = ctx;
      later = isSafe;
      seen.push(isSafe());
      rowsSafe = false;
      seen.push(ctx.isSafe());
      rowsSafe = true;
      seen.push(isSafe());
      execution.abort(new ExecutionAborted('shutdown', 'stopping'));
      seen.push(isSafe());
    },
    { rowsSafe: () => rowsSafe },
  );
  await execution.run();
  assert.deepEqual(seen, [true, false, true, false]);
  assert.equal(later?.(), false);
  let kept: (() => boolean) | undefined;
  await run((_r, ctx) => {
    kept = ctx.isSafe;
  }).run();
  assert.equal(kept?.(), false, 'an execution that ended is not safe');
});

test('a signal first read after the abort is already aborted, with the abort reason', async () => {
  let seen: { aborted: boolean; reason: unknown } | undefined;
  const outcome = await run(
    async (_r, ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 60));
      seen = { aborted: ctx.signal.aborted, reason: ctx.signal.reason };
      throw new Error('gave up');
    },
    { timeoutMs: 20, abandonAfterMs: 1_000 },
  ).run();
  assert.equal(seen?.aborted, true);
  assert.ok(seen?.reason instanceof ExecutionAborted && seen.reason.reason === 'timeout');
  assert.match(outcome.kind === 'failed' ? outcome.error.message : '', /execution timed out after 20 ms: gave up/);
});
