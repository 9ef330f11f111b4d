import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoopWatch } from './chaos/loop-watch.js';
import { type StaleSources, staleEvidence } from './chaos/stale-evidence.js';
import type { Execution } from './support/sink.js';

// The fault suite's own judgement of when a stale-term request started: it decides a violation, so it is tested.

test('a blocked event loop is recorded as a stall spanning the block, calm again after it', async () => {
  const watch = new LoopWatch();
  watch.start();
  try {
    await sleep(50);
    const blockedAt = performance.timeOrigin + performance.now();
    const until = performance.now() + 300;
    while (performance.now() < until);
    const unblockedAt = performance.timeOrigin + performance.now();
    await sleep(100);
    // Other stalls may come (a loaded machine); one must span the block and be over once the loop is on time.
    const stall = watch.stalls.find((s) => s.from <= blockedAt + 15 && s.to >= unblockedAt);
    assert.ok(stall, JSON.stringify({ stalls: watch.stalls, blockedAt, unblockedAt }));
    assert.ok(stall.calmAt !== undefined && stall.calmAt >= stall.to, JSON.stringify(stall));
  } finally {
    watch.stop();
  }
});

test('sink stamps map to wall time by the offset in force when each was taken', () => {
  const watch = new LoopWatch();
  watch.start();
  watch.stop();
  const [first] = watch.offsets;
  const stepAt = first!.at + 1_000;
  // A wall clock stepped forward by 400 ms a second after the watch began (as a clock sync may step it).
  watch.offsets.push({ at: stepAt, offset: first!.offset + 400 });
  assert.equal(watch.toWall(stepAt - 1), stepAt - 1 + first!.offset);
  assert.equal(watch.toWall(stepAt + 1), stepAt + 1 + first!.offset + 400);
  assert.equal(watch.toWall(first!.at - 5), first!.at - 5 + first!.offset);
  assert.equal(watch.wallDriftMs, 400);
});

const FENCE = 1_000_000;

const request = (key: string, start: number): Execution => ({
  key,
  attempt: 1,
  epoch: 1,
  replicaId: 'a',
  start,
  end: start + 5,
  status: 200,
  refused: false,
});

function sources(all: Execution[], ownStarts: Record<string, number>, stalls: StaleSources['stalls']): StaleSources {
  const ids = new Map(all.map((e, i) => [e.key, i + 1]));
  const lines = all
    .filter((e) => ownStarts[e.key] !== undefined)
    .map((e) => ({
      level: 'info',
      time: ownStarts[e.key]! + 5,
      msg: 'execution succeeded',
      epoch: 1,
      recordId: ids.get(e.key)!,
      attempt: 1,
      startedAt: ownStarts[e.key]!,
    }));
  return {
    all,
    ids,
    ledgerStarts: new Map(all.map((e) => [`${e.key}/1`, (ownStarts[e.key] ?? e.start) - 1])),
    logs: [{ id: 'a', lines }],
    stalls,
  };
}

const stale = (all: Execution[]) => all.map((execution) => ({ execution, newer: { epoch: 2, started: FENCE } }));

test('stamped late only if the sink stalled across the fence and the replica started it before', () => {
  const early = request('early', FENCE + 400); // started before the fence by its replica's log
  const late = request('late', FENCE + 420); // started after the fence by its replica's log
  const unlogged = request('unlogged', FENCE + 430); // no log line (its replica died, say)
  const all = [early, late, unlogged];
  const own = { early: FENCE - 30, late: FENCE + 10 };

  const backlog = { from: FENCE - 50, to: FENCE + 399, calmAt: FENCE + 440 };
  const stalled = staleEvidence(stale(all), sources(all, own, [backlog]));
  assert.deepEqual([...stalled.stampedLate], [early]);
  assert.match(stalled.notes.join('\n'), /3 request\(s\) of a \(epoch 1\) stamped by the sink \+400 to \+430 ms/);
  assert.match(stalled.notes.join('\n'), /449 ms from -50 ms \(across the fence: 1 stamped late\)/);

  // Not late: a stall that ended before the fence, or began after it, or after which the loop was on time again
  // well before the stamp (a request that arrived before the fence would have been stamped by then).
  for (const stall of [
    { from: FENCE - 500, to: FENCE - 10, calmAt: FENCE },
    { from: FENCE + 5, to: FENCE + 399, calmAt: FENCE + 440 },
    { from: FENCE - 50, to: FENCE + 20, calmAt: FENCE + 30 },
  ]) {
    const judged = staleEvidence(stale(all), sources(all, own, [stall]));
    assert.equal(judged.stampedLate.size, 0, JSON.stringify(stall));
  }
  assert.equal(staleEvidence(stale(all), sources(all, own, [])).stampedLate.size, 0);

  // An execution its replica logged twice proves nothing.
  const twice = sources(all, own, [backlog]);
  const logged = twice.logs[0]!.lines;
  twice.logs = [{ id: 'a', lines: [...logged, ...logged.filter((l) => l.recordId === 1)] }];
  assert.equal(staleEvidence(stale(all), twice).stampedLate.size, 0);
});
