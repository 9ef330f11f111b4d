import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RunResult } from './chaos/analyse.js';
import { quickCombinations } from './chaos/faults.js';
import { DEFAULT_TTL_SECONDS, runFault } from './chaos/run-fault.js';

// The quick form of the fault-injection suite: one run of every fault, on few records, at default settings
// (the lease TTL and, wherever the fault means something at it, the execution timeout), the backends rotating
// across the faults. Two run at once. The long form is `npm run chaos` (see docs/RELIABILITY.md).
const GOAL_MS = DEFAULT_TTL_SECONDS * 1000 + 2000;

/**
 * Product bugs this suite found and that are not fixed yet: the check still runs and prints its failure, marked
 * TODO (so npm test stays usable) until the fix lands; delete the entry with the fix.
 */
const KNOWN_STALE_STARTS: Record<string, string> = {
  'SIGSTOP leader past the lease':
    'a handler started just before the pause sends its request after the resume, before the stall is noticed',
  'handler blocks the event loop past the lease':
    'requests of handlers under way (the blocked one too) leave after the block, before the stall is noticed',
};

describe('chaos, quick form', { concurrency: 2 }, () => {
  for (const { fault, backend, timeout } of quickCombinations()) {
    test(`${fault.name} (${backend}, ${timeout} execution timeout)`, async (t) => {
      const result = await runFault(fault, { backend, timeout, records: 40, quick: true, settleTimeoutMs: 90_000 });
      t.diagnostic(JSON.stringify(result));
      const detail = (r: RunResult) => JSON.stringify({ violations: r.violations, notes: r.notes });
      await t.test('breaks no invariant (apart from stale-term starts, below)', () => {
        const { staleStarts: _, ...others } = result.violations;
        assert.ok(
          Object.values(others).every((n) => n === 0),
          detail(result),
        );
        assert.ok(result.executions >= result.records, 'every record was executed');
      });
      const known = KNOWN_STALE_STARTS[fault.name];
      await t.test('starts no request from a term after a newer one was fenced', known ? { todo: known } : {}, () => {
        assert.equal(result.violations.staleStarts, 0, detail(result));
      });
      if (fault.failoverGoal)
        await t.test(`another term executes within ${GOAL_MS / 1000} s (TTL + 2 s)`, () => {
          assert.ok(
            result.failoverMs !== undefined && result.failoverMs <= GOAL_MS,
            `failover took ${result.failoverMs ?? 'forever'} ms (goal: ${GOAL_MS} ms)`,
          );
        });
    });
  }
});
