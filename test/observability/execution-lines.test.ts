import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { ExecutionLines } from '../../src/observability/execution-lines.js';
import { createLogger } from '../../src/observability/logger.js';

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => void lines.push(line) } };
}

/** The same line with its time taken out: the two are written a moment apart. */
const timeless = (line: string) => line.replace(/"time":\d+/, '"time":0');

test("execution lines on our own logger are pino's lines to the byte", () => {
  const fast = capture();
  const slow = capture();
  const ours = createLogger('info', 'replica "one"', fast.destination).child({ epoch: 812 });
  const reference = createLogger('info', 'replica "one"', slow.destination).child({ epoch: 812 });
  const lines = new ExecutionLines(ours);
  for (const kind of ['http', 'with "quotes" and \\ and é', 'tab\there', 'x'.repeat(150)]) {
    lines.started(42, 3, kind);
    reference.info({ recordId: 42, attempt: 3, kind }, 'execution started');
    lines.succeeded(42, 3, kind, 12.4);
    reference.info({ recordId: 42, attempt: 3, kind, outcome: 'succeeded', durationMs: 12.4 }, 'execution succeeded');
  }
  assert.equal(fast.lines.length, 8);
  assert.deepEqual(fast.lines.map(timeless), slow.lines.map(timeless));
  for (const line of fast.lines) assert.ok(Math.abs((JSON.parse(line) as { time: number }).time - Date.now()) < 60_000, 'the time is now, in ms');
});

test('execution lines follow the logger level, and go through pino on a logger of the caller', () => {
  const quiet = capture();
  const warnOnly = createLogger('warn', 'r1', quiet.destination);
  new ExecutionLines(warnOnly).started(1, 1, 'http');
  assert.deepEqual(quiet.lines, [], 'info lines are not written at warn');
  warnOnly.level = 'info';
  new ExecutionLines(warnOnly).started(1, 1, 'http');
  assert.equal(quiet.lines.length, 1, 'a level changed at run time is honoured');

  const theirs = capture();
  const userLogger = pino({ messageKey: 'message', base: { service: 'billing' } }, theirs.destination);
  new ExecutionLines(userLogger.child({ epoch: 7 })).succeeded(5, 2, 'email', 3);
  const line = JSON.parse(theirs.lines[0]!) as Record<string, unknown>;
  assert.equal(line.message, 'execution succeeded', "the caller's own format");
  assert.equal(line.level, 30);
  assert.deepEqual([line.service, line.epoch, line.recordId, line.attempt, line.kind, line.outcome, line.durationMs], ['billing', 7, 5, 2, 'email', 'succeeded', 3]);
});
