import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLAIM_PAYLOAD_BYTES, CLAIM_WORK_MS, ClaimPace } from '../src/loop/claim-pace.js';

// How many records a claim takes: about CLAIM_WORK_MS of what the slots can do, within its bounds.

function pace(concurrency = 10, batchSize = 2_000) {
  let now = 1_000_000;
  const p = new ClaimPace(concurrency, batchSize, () => now);
  const wait = (ms: number) => {
    now += ms;
  };
  return {
    p,
    wait,
    /** `n` executions of `ms` each, `concurrency` at a time, of records with payloads of `payloadBytes`. */
    run(n: number, ms: number, payloadBytes = 2) {
      for (let done = 0; done < n; done += concurrency) {
        const wave = Math.min(concurrency, n - done);
        for (let i = 0; i < wave; i++) p.started(payloadBytes);
        wait(ms);
        for (let i = 0; i < wave; i++) p.finished();
      }
    },
  };
}

test('with nothing measured yet a claim takes twice the slots, and no more than BATCH_SIZE', () => {
  assert.equal(pace(10).p.limit(), 20);
  assert.equal(pace(10, 8).p.limit(), 8);
});

test('a claim holds about CLAIM_WORK_MS of executions, within twice the slots and BATCH_SIZE', () => {
  const fast = pace(10, 2_000);
  fast.run(1_000, 0.01);
  assert.equal(fast.p.limit(), 2_000);
  const io = pace(50, 2_000);
  io.run(1_000, 5); // 50 slots, 5 ms each: 10 a ms
  assert.equal(io.p.limit(), 50 * (CLAIM_WORK_MS / 5));
  const slow = pace(10, 2_000);
  slow.run(20, 1_000);
  assert.equal(slow.p.limit(), 20);
});

test('slots that wait for claims do not make the claims smaller', () => {
  const waiting = pace(10, 2_000);
  for (let i = 0; i < 20; i++) {
    waiting.run(100, 0.01);
    waiting.wait(100); // a distant database: the next claim comes 100 ms later
  }
  assert.equal(waiting.p.limit(), 2_000);
});

test('handlers that turn slow shrink the next claim before they end', () => {
  const turning = pace(10, 2_000);
  turning.run(1_000, 0.01);
  assert.equal(turning.p.limit(), 2_000);
  for (let i = 0; i < 10; i++) turning.p.started(2);
  turning.wait(2_000); // ten executions still running after 2 s
  assert.equal(turning.p.limit(), 20);
});

test('records with large payloads are claimed fewer at a time, never fewer than the slots', () => {
  const big = pace(10, 2_000);
  big.run(100, 0.01, 1024 * 1024);
  assert.equal(big.p.limit(), Math.floor(CLAIM_PAYLOAD_BYTES / (1024 * 1024)));
  const claimed = pace(10, 2_000);
  claimed.run(1_000, 0.01); // small payloads so far
  claimed.p.claimed(Array.from({ length: 10 }, () => ({ payloadBytes: 64 * 1024 * 1024 })));
  assert.equal(claimed.p.limit(), 10, 'the last claim had 64 MiB payloads');
  claimed.p.claimed([]); // an empty claim says nothing about payloads
  assert.equal(claimed.p.limit(), 10);
});
