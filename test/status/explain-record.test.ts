import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AttemptRow } from '../../src/db/read-attempts.js';
import type { LeaderRow } from '../../src/db/read-leader.js';
import type { RecordRow } from '../../src/db/read-record.js';
import { explainRecord, type RecordFacts, relative } from '../../src/status/explain-record.js';
import { judgeLeader, type LeaderView } from '../../src/status/judge-leader.js';

const NOW = new Date('2030-01-01T12:00:00Z');
const at = (secondsFromNow: number) => new Date(NOW.getTime() + secondsFromNow * 1000);

const leaderRow = (over: Partial<LeaderRow> = {}): LeaderRow => ({
  epoch: 7,
  holder: 'r2',
  since: at(-60),
  backend: 'etcd',
  endedAt: null,
  endReason: null,
  holderAgeSeconds: 1,
  holderStoppedAt: null,
  holderLeadingEpoch: 7,
  now: NOW,
  ...over,
});
const LEADING: LeaderView = judgeLeader(leaderRow(), 15);

const record = (over: Partial<RecordRow> = {}): RecordRow => ({
  id: 42,
  kind: 'http',
  status: 'pending',
  attempts: 0,
  maxAttempts: null,
  attemptBase: 0,
  nextRunAt: at(-5),
  lastError: null,
  createdAt: at(-100),
  updatedAt: at(-5),
  finishedAt: null,
  dueAhead: 0,
  now: NOW,
  ...over,
});

const attempt = (over: Partial<AttemptRow> = {}): AttemptRow => ({
  attempt: 1,
  epoch: 7,
  replicaId: 'r2',
  startedAt: at(-2),
  finishedAt: null,
  outcome: null,
  error: null,
  ...over,
});

const facts = (over: Partial<RecordFacts> = {}): RecordFacts => ({
  recordId: 42,
  record: record(),
  attempts: [],
  locked: false,
  leader: LEADING,
  knownKinds: ['http'],
  defaultMaxAttempts: 5,
  ...over,
});

test(
  'judgeLeader: an open term whose holder beats is leading' + '; a silent holder is unconfirmed; an ended term is none',
  () => {
    assert.equal(judgeLeader(null, 15).state, 'none');
    assert.equal(LEADING.state, 'leading');
    assert.equal(LEADING.holder, 'r2');
    const silent = judgeLeader(leaderRow({ holderAgeSeconds: 40 }), 15);
    assert.equal(silent.state, 'unconfirmed');
    assert.match(silent.note, /last seen 40\.0 s ago/);
    assert.equal(judgeLeader(leaderRow({ holderAgeSeconds: null }), 15).state, 'unconfirmed');
    const ended = judgeLeader(leaderRow({ endedAt: at(-3), endReason: 'resigned' }), 15);
    assert.equal(ended.state, 'none');
    assert.match(ended.note, /resigned/);
    assert.equal(judgeLeader(leaderRow({ holderStoppedAt: at(-1) }), 15).state, 'none');
  },
);

test('a missing record is not-found', () => {
  assert.equal(explainRecord(facts({ record: null })).state, 'not-found');
});

test('a succeeded record says when and after how many attempts', () => {
  const e = explainRecord(facts({ record: record({ status: 'succeeded', attempts: 2, finishedAt: at(-30) }) }));
  assert.equal(e.state, 'succeeded');
  assert.match(e.summary, /succeeded at 2030-01-01T11:59:30.000Z \(30.0 s ago\) after 2 attempts/);
});

test('a dead record tells exhausted attempts from a permanent failure, with last_error', () => {
  const exhausted = explainRecord(
    facts({ record: record({ status: 'dead', attempts: 3, maxAttempts: 3, lastError: 'POST answered 503' }) }),
  );
  assert.equal(exhausted.state, 'dead');
  assert.match(exhausted.summary, /attempts exhausted \(3 of 3\); last error: POST answered 503/);
  const permanent = explainRecord(
    facts({ record: record({ status: 'dead', attempts: 1, lastError: 'answered 422' }) }),
  );
  assert.match(permanent.summary, /failed permanently on attempt 1/);
  const unknown = explainRecord(facts({ record: record({ status: 'dead', attempts: 1, kind: 'fax' }) }));
  assert.ok(unknown.details.some((d) => /kind "fax" has no handler/.test(d)));
});

test('a locked row with an open attempt is being executed now by that replica in that epoch', () => {
  const e = explainRecord(facts({ locked: true, attempts: [attempt({ attempt: 1, replicaId: 'r3', epoch: 9 })] }));
  assert.equal(e.state, 'executing');
  assert.deepEqual(e.executing, { replicaId: 'r3', epoch: 9, attempt: 1, startedAt: at(-2).toISOString() });
  assert.match(e.summary, /being executed now by replica r3 in epoch 9 \(attempt 1 of 5, started 2.0 s ago\)/);
});

test('a locked row without an open attempt is claimed', () => {
  assert.equal(explainRecord(facts({ locked: true })).state, 'claimed');
});

test('an open attempt on an unlocked row is an executor that died, and it counts', () => {
  const e = explainRecord(facts({ record: record({ attempts: 1 }), attempts: [attempt({ attempt: 2 })] }));
  assert.equal(e.state, 'due');
  assert.ok(e.details.some((d) => /attempt 2 by r2 in epoch 7 .* never finished/.test(d)));
  const last = explainRecord(
    facts({ record: record({ attempts: 2, maxAttempts: 3 }), attempts: [attempt({ attempt: 3 })] }),
  );
  assert.equal(last.state, 'exhausted');
});

test('a kind without a handler in this configuration is unknown-kind; unknown kinds (null) are not judged', () => {
  const e = explainRecord(facts({ record: record({ kind: 'email' }), knownKinds: ['http', 'sms'] }));
  assert.equal(e.state, 'unknown-kind');
  assert.match(e.summary, /kind "email" has no handler in this configuration \(known: http, sms\)/);
  assert.equal(explainRecord(facts({ record: record({ kind: 'email' }), knownKinds: null })).state, 'due');
});

test('a pending record whose next_run_at is ahead is in backoff until then', () => {
  const e = explainRecord(facts({ record: record({ attempts: 2, nextRunAt: at(12), lastError: 'answered 503' }) }));
  assert.equal(e.state, 'backoff');
  assert.equal(e.notDueUntil, at(12).toISOString());
  assert.match(
    e.summary,
    /not due until 2030-01-01T12:00:12.000Z \(in 12.0 s\) \(backoff after attempt 2 failed: answered 503\)/,
  );
});

test('a due record with no leader says so, with the last term', () => {
  const none = judgeLeader(leaderRow({ endedAt: at(-4), endReason: 'resigned' }), 15);
  const e = explainRecord(facts({ leader: none }));
  assert.equal(e.state, 'no-leader');
  assert.match(
    e.summary,
    /due since .* but no replica leads right now: the last term \(epoch 7, r2\) ended .*resigned/,
  );
  assert.equal(
    explainRecord(facts({ leader: judgeLeader(leaderRow({ holderAgeSeconds: 99 }), 15) })).state,
    'leader-silent',
  );
});

test('a due record under a live leader waits for its next claim, and says how many are ahead', () => {
  const e = explainRecord(facts({ record: record({ dueAhead: 3 }) }));
  assert.equal(e.state, 'due');
  assert.match(e.summary, /waiting for the next claim of leader r2 \(epoch 7\)/);
  assert.ok(e.details.includes('3 due records ahead of it in claim order'));
});

test('relative() reads naturally both ways', () => {
  assert.equal(relative(at(4.2), NOW), 'in 4.2 s');
  assert.equal(relative(at(-300), NOW), '5.0 min ago');
  assert.equal(relative(at(3 * 3600), NOW), 'in 3.0 h');
});

test('status output shows control characters from stored text as escapes, never raw', async () => {
  const { printable } = await import('../../src/status/format-status.js');
  const evil = 'answered 503: \u001b]0;pwned\u0007\u001b[2J\u009bdone\u0000';
  const shown = printable(`line one\n${evil}\ttab`);
  assert.equal(shown, 'line one\nanswered 503: \\x1b]0;pwned\\x07\\x1b[2J\\x9bdone\\x00\ttab');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: what must not be left
  assert.doesNotMatch(shown, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
});
