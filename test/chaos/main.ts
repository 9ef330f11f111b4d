// The long form of the fault-injection suite: `npm run chaos` (after `npm run build`). Every fault on every
// backend it applies to, at the default execution timeout and at 1.5 s, at the default lease TTL.
//   node dist/test/chaos/main.js [--runs 2] [--records 1000] [--backend etcd|redis|postgres|static]
//     [--timeout default|short] [--only "kill -9"] [--ttl 5] [--write docs/RELIABILITY.md]
// Exits 1 on any violation, or when a fault under the failover goal misses it at default settings.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isViolation, type RunResult } from './analyse.js';
import { combinations, FAULTS } from './faults.js';
import { reliabilityDoc } from './reliability-doc.js';
import { DEFAULT_TTL_SECONDS, runFault } from './run-fault.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '2' },
    records: { type: 'string', default: '1000' },
    backend: { type: 'string' },
    timeout: { type: 'string' },
    only: { type: 'string' },
    ttl: { type: 'string' },
    write: { type: 'string' },
  },
});
const runs = Number(values.runs);
const records = Number(values.records);
const ttlSeconds = values.ttl ? Number(values.ttl) : undefined;
const todo = combinations({ backend: values.backend, timeout: values.timeout, only: values.only });
if (todo.length === 0) {
  console.error('no fault matches the filters');
  process.exit(2);
}
const results: RunResult[] = [];
const started = Date.now();
for (const [i, { fault, backend, timeout }] of todo.entries()) {
  for (let run = 1; run <= runs; run++) {
    const result = await runFault(fault, {
      backend,
      timeout,
      ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
      records,
      quick: false,
      settleTimeoutMs: 180_000,
    }).catch((err: unknown) => {
      console.error(`${fault.name} / ${backend} / ${timeout} #${run} failed to run: ${String(err)}`);
      return undefined;
    });
    if (!result) continue;
    results.push(result);
    console.error(
      `[${i + 1}/${todo.length}] ${fault.name} / ${backend} / ${timeout} #${run}: ${JSON.stringify(result)}`,
    );
  }
}
const goalFaults = new Set(FAULTS.filter((f) => f.failoverGoal).map((f) => f.name));
const ttl = ttlSeconds ?? DEFAULT_TTL_SECONDS;
const missed = results.filter(
  (r) =>
    goalFaults.has(r.fault) &&
    r.timeout === 'default' &&
    (r.failoverMs === undefined || r.failoverMs > ttl * 1000 + 2000),
);
const doc = reliabilityDoc({
  results,
  goalFaults,
  ttlSeconds: ttl,
  command: `node dist/test/chaos/main.js ${process.argv
    .slice(2)
    .map((a) => (a.includes(' ') ? JSON.stringify(a) : a))
    .join(' ')}`,
  minutes: Math.round((Date.now() - started) / 60000),
});
console.log(doc);
if (values.write) await writeFile(values.write, doc);
const violations = results.filter(isViolation);
if (violations.length > 0) console.error(`${violations.length} run(s) violated an invariant`);
if (missed.length > 0) console.error(`${missed.length} run(s) missed the failover goal`);
process.exit(violations.length + missed.length > 0 ? 1 : 0);
