import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClaimedRow } from '../src/db/claim-records.js';
import { type Kind, KindRegistry } from '../src/executor/kinds.js';
import { classify, type PlanRules, planAttempt, withoutAttemptAhead } from '../src/loop/attempts.js';

const known: Kind = {
  name: 'known',
  handle: async () => undefined,
  maxAttempts: 3,
  backoff: { baseMs: 1_000, maxMs: 60_000 },
  timeoutMs: 1_000,
  concurrency: undefined,
  ratePerSecond: undefined,
  retryOn: undefined,
};
const rules: PlanRules = { kinds: new KindRegistry([known]), defaultMaxAttempts: 5, payloadMaxBytes: 100 };
const row = (overrides: Partial<ClaimedRow> = {}): ClaimedRow => ({
  id: 1,
  uid: 'u',
  kind: 'known',
  payload: {},
  payloadBytes: 2,
  attempts: 0,
  maxAttempts: null,
  attemptBase: 0,
  lastError: null,
  ledgerAttempt: null,
  ledgerOutcome: null,
  ledgerError: null,
  ...overrides,
});

test('a requeued record gets a fresh budget above its attempt base: attempt 4 of 6 runs, attempt 7 does not', () => {
  assert.deepEqual(planAttempt(row({ attempts: 3, attemptBase: 3, maxAttempts: 3 }), rules), {
    action: 'run',
    attempt: 4,
    maxAttempts: 6,
    kind: known,
  });
  const spent = planAttempt(row({ attempts: 6, attemptBase: 3, maxAttempts: 3 }), rules);
  assert.equal(spent.action === 'settle' && spent.completion.status, 'dead');
});

test('a fresh record runs as attempt 1; one with attempts counted runs the next', () => {
  assert.deepEqual(planAttempt(row(), rules), { action: 'run', attempt: 1, maxAttempts: 3, kind: known });
  assert.deepEqual(planAttempt(row({ attempts: 2 }), rules), {
    action: 'run',
    attempt: 3,
    maxAttempts: 3,
    kind: known,
  });
  const own = planAttempt(row({ maxAttempts: 7 }), rules);
  assert.equal(own.action === 'run' && own.maxAttempts, 7, "a row's own max_attempts wins over its kind's");
});

test('an attempt whose executor died counts: the next one runs, or the record is dead when none is left', () => {
  assert.deepEqual(planAttempt(row({ ledgerAttempt: 1 }), rules), {
    action: 'run',
    attempt: 2,
    maxAttempts: 3,
    kind: known,
  });
  const plan = planAttempt(row({ attempts: 2, ledgerAttempt: 3, lastError: 'e2' }), rules);
  assert.equal(plan.action, 'settle');
  assert.deepEqual(plan.action === 'settle' && plan.completion, {
    id: 1,
    status: 'dead',
    attempts: 3,
    delayMs: 0,
    lastError:
      'attempts exhausted: attempt 3 of 3 started and never finished (its executor stopped); earlier error: e2',
  });
});

test("an idle leader's attempt recorded beside its claim, read by that claim, is not an attempt that died", () => {
  const ahead = { ledgerId: 9, recordUid: 'u', attempt: 3 };
  const seen = row({ attempts: 2, ledgerAttempt: 3 });
  assert.deepEqual(planAttempt(withoutAttemptAhead(seen, ahead), rules), {
    action: 'run',
    attempt: 3,
    maxAttempts: 3,
    kind: known,
  });
  assert.deepEqual(withoutAttemptAhead(row({ attempts: 2 }), ahead), row({ attempts: 2 }), 'not read: as it is');
  // Another record's row, or another attempt of this one, still counts.
  assert.equal(withoutAttemptAhead(row({ uid: 'v', attempts: 2, ledgerAttempt: 3 }), ahead).ledgerAttempt, 3);
  assert.equal(withoutAttemptAhead(row({ attempts: 3, ledgerAttempt: 4 }), ahead).ledgerAttempt, 4);
  // One with an outcome is not the row written ahead (nothing writes outcomes to it before it is used).
  const finished = row({ attempts: 2, ledgerAttempt: 3, ledgerOutcome: 'succeeded' });
  assert.equal(withoutAttemptAhead(finished, ahead), finished);
});

test(
  'outcomes the ledger has but the row lost are reconciled without running' +
    ': success, permanent failure, failure with backoff',
  () => {
    const settle = (r: ClaimedRow) => {
      const plan = planAttempt(r, rules);
      assert.equal(plan.action, 'settle');
      return plan.action === 'settle' ? plan.completion : undefined;
    };
    assert.deepEqual(settle(row({ ledgerAttempt: 1, ledgerOutcome: 'succeeded' })), {
      id: 1,
      status: 'succeeded',
      attempts: 1,
      delayMs: 0,
      lastError: null,
    });
    assert.deepEqual(settle(row({ ledgerAttempt: 1, ledgerOutcome: 'dead', ledgerError: 'no' })), {
      id: 1,
      status: 'dead',
      attempts: 1,
      delayMs: 0,
      lastError: 'no',
    });
    const failed = settle(row({ ledgerAttempt: 2, ledgerOutcome: 'failed', ledgerError: '503' }))!;
    assert.equal(failed.status, 'pending');
    assert.equal(failed.attempts, 2);
    assert.ok(failed.delayMs >= 1_000 && failed.delayMs <= 2_000, `${failed.delayMs}`);
    assert.equal(
      settle(row({ ledgerAttempt: 3, ledgerOutcome: 'failed', ledgerError: '503' }))!.lastError,
      'attempt 3 of 3 failed: 503',
    );
  },
);

test(
  'a record with nothing to try, an unknown kind or an oversized payload' + ' is dead without running, saying why',
  () => {
    const completion = (r: ClaimedRow) => {
      const plan = planAttempt(r, rules);
      return plan.action === 'settle' ? plan.completion : undefined;
    };
    assert.equal(
      completion(row({ attempts: 3, maxAttempts: 2, lastError: 'x' }))!.lastError,
      'max_attempts is 2 and 3 attempts were made; last error: x',
    );
    assert.match(completion(row({ kind: 'other' }))!.lastError!, /unknown kind "other".*known kinds: known/);
    assert.match(
      completion(row({ payload: null, payloadBytes: 500 }))!.lastError!,
      /payload is 500 bytes, over PAYLOAD_MAX_BYTES \(100\)/,
    );
  },
);

test('classify: success; failure with backoff; the last failure is dead; a permanent failure is dead at once', () => {
  const backoff = { backoff: { baseMs: 1_000, maxMs: 60_000 }, retryOn: undefined };
  const r = { id: 1, maxAttempts: 3 };
  assert.deepEqual(classify({ kind: 'succeeded' }, r, 1, backoff).completion, {
    id: 1,
    status: 'succeeded',
    attempts: 1,
    delayMs: 0,
    lastError: null,
  });
  const failed = classify({ kind: 'failed', error: new Error('503') }, r, 1, backoff, () => 0);
  assert.deepEqual(
    [failed.label, failed.ledgerOutcome, failed.completion.status, failed.completion.delayMs],
    ['failed', 'failed', 'pending', 500],
  );
  const asked = classify({ kind: 'failed', error: new Error('busy'), retryAfterMs: 30_000 }, r, 1, backoff, () => 0);
  assert.equal(asked.completion.delayMs, 30_000, 'a longer ask than the backoff wins');
  const last = classify({ kind: 'failed', error: new Error('503') }, r, 3, backoff);
  assert.deepEqual(
    [last.label, last.ledgerOutcome, last.completion.status, last.completion.lastError],
    ['dead', 'failed', 'dead', 'attempt 3 of 3 failed: 503'],
  );
  const permanent = classify({ kind: 'dead', error: new Error('422') }, r, 1, backoff);
  assert.deepEqual([permanent.label, permanent.ledgerOutcome, permanent.completion.status], ['dead', 'dead', 'dead']);
});

test("classify: a kind's retryOn that says no makes the record dead at once; one that throws counts as yes", () => {
  const r = { id: 1, maxAttempts: 5 };
  const picky = { backoff: { baseMs: 10, maxMs: 10 }, retryOn: (e: Error) => !e.message.includes('422') };
  const refused = classify({ kind: 'failed', error: new Error('answered 422') }, r, 1, picky);
  assert.deepEqual([refused.label, refused.completion.status], ['dead', 'dead']);
  assert.match(refused.completion.lastError!, /^not retryable \(its kind's retryOn said so\): answered 422/);
  assert.equal(
    classify({ kind: 'failed', error: new Error('answered 503') }, r, 1, picky).completion.status,
    'pending',
  );
  const broken = {
    backoff: { baseMs: 10, maxMs: 10 },
    retryOn: () => {
      throw new Error('bug');
    },
  };
  assert.equal(classify({ kind: 'failed', error: new Error('x') }, r, 1, broken).completion.status, 'pending');
});
