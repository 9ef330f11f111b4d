import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLAIM_PAYLOAD_BYTES, CLAIM_WORK_MS, ClaimPace } from '../src/loop/claim-pace.js';

// How many records a claim takes: about CLAIM_WORK_MS of the slots' recent pace, within its bounds.

function pace(concurrency = 10, batchSize = 2_000) {
  let now = 1_000_000;
  const p = new ClaimPace(concurrency, batchSize, () => now);
  return {
    p,
    /** `n` starts spread over `ms`, of records with payloads of `payloadBytes`. */
    run(n: number, ms: number, payloadBytes = 2) {
      for (let i = 0; i < n; i++) {
        now += ms / n;
        p.started(payloadBytes);
      }
    },
    wait(ms: number) {
      now += ms;
    },
  };
}

test('with nothing started yet a claim takes twice the slots, and no more than BATCH_SIZE', () => {
  assert.equal(pace(10).p.limit(), 20);
  assert.equal(pace(10, 8).p.limit(), 8);
});

test('fast handlers get claims of what started in the last CLAIM_WORK_MS, up to BATCH_SIZE', () => {
  const fast = pace(10, 2_000);
  fast.run(6_000, 100); // 60 records a ms
  assert.equal(fast.p.limit(), 2_000);
  const middling = pace(10, 2_000);
  middling.run(1_000, 100); // 10 a ms: about 500 in the last 50 ms
  const limit = middling.p.limit();
  assert.ok(limit >= 400 && limit <= 550, `limit ${limit}`);
});

test('slow handlers get claims of twice the slots', () => {
  const slow = pace(10, 2_000);
  slow.run(10, 1_000); // ten a second
  slow.wait(3 * CLAIM_WORK_MS);
  assert.equal(slow.p.limit(), 20);
});

test('a claim grows from the floor to BATCH_SIZE in a few claims while records start as fast as claimed', () => {
  const burst = pace(10, 2_000);
  let claims = 0;
  for (let limit = burst.p.limit(); limit < 2_000; limit = burst.p.limit()) {
    burst.run(limit, 5); // the whole claim ran in 5 ms
    claims++;
    assert.ok(claims < 20, 'reached BATCH_SIZE');
  }
  assert.ok(claims <= 10, `${claims} claims`);
});

test('a dip in the pace halves the limit at most per CLAIM_WORK_MS, then it falls to the floor', () => {
  const dip = pace(10, 2_000);
  dip.run(6_000, 100);
  assert.equal(dip.p.limit(), 2_000);
  dip.wait(CLAIM_WORK_MS); // nothing started: the slots waited for a claim
  assert.equal(dip.p.limit(), 1_000);
  dip.wait(10 * CLAIM_WORK_MS);
  assert.equal(dip.p.limit(), 20);
});

test('records with large payloads are claimed fewer at a time, never fewer than the slots', () => {
  const big = pace(10, 2_000);
  big.run(6_000, 100, 1024 * 1024);
  assert.equal(big.p.limit(), CLAIM_PAYLOAD_BYTES / (1024 * 1024));
  big.run(100, 10, 64 * 1024 * 1024);
  assert.equal(big.p.limit(), 10);
  big.wait(10 * CLAIM_WORK_MS); // nothing started since: the last payloads still count
  assert.equal(big.p.limit(), 10);
  big.run(6_000, 100);
  assert.equal(big.p.limit(), 2_000);
});
