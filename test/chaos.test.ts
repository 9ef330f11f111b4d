import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RunResult } from './chaos/analyse.js';
import { quickCombinations } from './chaos/faults.js';
import { DEFAULT_TTL_SECONDS, runFault } from './chaos/run-fault.js';
import { rabbitUnavailable } from './support/rabbitmq.js';

// The quick form of the fault-injection suite: one run of every fault, on few records, at default settings
// (the lease TTL and, wherever the fault means something at it, the execution timeout), the backends rotating
// across the faults; and a few in dispatch mode (EXECUTION_MODE=dispatch, a RabbitMQ vhost per run). Two run
// at once. The long form is `npm run chaos` (see docs/RELIABILITY.md).
const GOAL_MS = DEFAULT_TTL_SECONDS * 1000 + 2000;
const combos = quickCombinations();
const noRabbit = combos.some((c) => c.mode === 'dispatch') ? await rabbitUnavailable() : undefined;

describe('chaos, quick form', { concurrency: 2 }, () => {
  for (const { fault, mode, backend, timeout } of combos) {
    const skip = mode === 'dispatch' ? noRabbit : undefined;
    const where = `${mode === 'dispatch' ? 'dispatch mode, ' : ''}${backend}, ${timeout} execution timeout`;
    test(`${fault.name} (${where})`, { skip }, async (t) => {
      const options = { mode, backend, timeout, records: 40, quick: true, settleTimeoutMs: 90_000 };
      const result = await runFault(fault, options);
      t.diagnostic(JSON.stringify(result));
      const detail = (r: RunResult) => JSON.stringify({ violations: r.violations, notes: r.notes });
      await t.test('breaks no invariant', () => {
        assert.ok(
          Object.values(result.violations).every((n) => n === 0),
          detail(result),
        );
        assert.ok(result.executions >= result.records, 'every record was executed');
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
