import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAULTS } from './chaos/faults.js';
import { isViolation, runFault } from './chaos/run-fault.js';

// The quick form of the fault-injection suite: every fault once, on a few records. The long form is
// `npm run chaos` (see docs/RELIABILITY.md).
for (const fault of FAULTS) {
  test(`chaos: ${fault.name} breaks none of invariants 1-4`, async (t) => {
    const result = await runFault(fault, { records: 120, ttlSeconds: 2, settleTimeoutMs: 90_000 });
    t.diagnostic(JSON.stringify(result));
    assert.equal(isViolation(result), false, JSON.stringify(result));
    assert.ok(result.executions >= result.records, 'every record was executed');
  });
}
