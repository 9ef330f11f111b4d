import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelayMs } from '../../src/executor/backoff.js';

const backoff = { baseMs: 1_000, maxMs: 30_000 };
const low = () => 0;
const high = () => 1;

test('the first retry waits between half the base and the base', () => {
  assert.equal(retryDelayMs(1, backoff, low), 500);
  assert.equal(retryDelayMs(1, backoff, high), 1_000);
  assert.equal(
    retryDelayMs(1, backoff, () => 0.5),
    750,
  );
});

test('the delay doubles with each attempt', () => {
  assert.deepEqual(
    [1, 2, 3, 4].map((attempt) => retryDelayMs(attempt, backoff, high)),
    [1_000, 2_000, 4_000, 8_000],
  );
});

test('the delay never exceeds the cap, and keeps half of it fixed', () => {
  assert.equal(retryDelayMs(6, backoff, high), 30_000);
  assert.equal(retryDelayMs(6, backoff, low), 15_000);
});

test('a huge attempt number gives the capped delay, not Infinity or NaN', () => {
  assert.equal(retryDelayMs(10_000, backoff, high), 30_000);
  assert.equal(retryDelayMs(Number.MAX_SAFE_INTEGER, backoff, low), 15_000);
});

test('attempt 0 or below is treated as the first attempt', () => {
  assert.equal(retryDelayMs(0, backoff, high), 1_000);
  assert.equal(retryDelayMs(-3, backoff, high), 1_000);
});

test('a zero base means retry at once', () => {
  assert.equal(retryDelayMs(5, { baseMs: 0, maxMs: 0 }, high), 0);
});

test('without an injected random the delay stays within the jitter range', () => {
  for (let i = 0; i < 100; i++) {
    const delay = retryDelayMs(3, backoff);
    assert.ok(delay >= 2_000 && delay <= 4_000, String(delay));
    assert.ok(Number.isInteger(delay));
  }
});
