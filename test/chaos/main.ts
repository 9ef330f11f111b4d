// The long form of the fault-injection suite: `npm run chaos` (after `npm run build`). Every fault on every
// backend it applies to, at the default execution timeout and at 1.5 s, at the default lease TTL; the faults
// that run in dispatch mode also there (on etcd, at the default execution timeout), each run on a RabbitMQ
// vhost of its own. Without a RabbitMQ to reach (rabbitmqctl), the dispatch runs are skipped, saying so.
// Options: USAGE below (`--help` prints it with the faults' names).
// Exits 1 on any violation, or when a fault under the failover goal misses it at default settings.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { rabbitUnavailable } from '../support/rabbitmq.js';
import { isViolation, type RunResult } from './analyse.js';
import { CHAOS_BATCH_SIZE, stopAllClusters } from './chaos-cluster.js';
import { combinations, FAULTS } from './faults.js';
import { reliabilityDoc } from './reliability-doc.js';
import { DEFAULT_TTL_SECONDS, runFault } from './run-fault.js';

const USAGE = `usage: node dist/test/chaos/main.js [--runs 2] [--records 1000] [--mode leader|dispatch]
  [--backend etcd|redis|postgres|static] [--timeout default|short] [--only "kill -9"] [--ttl 5]
  [--batch-size 20] [--write docs/RELIABILITY.md]
Every fault on every backend it applies to, --runs times each (filters narrow it; --only matches fault names).
Faults: ${FAULTS.map((f) => f.name).join('; ')}`;

const { values } = parseArguments();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

/** The command line's options; a wrong one exits 2, with the usage. */
function parseArguments() {
  try {
    return parseArgs({
      options: {
        help: { type: 'boolean', short: 'h' },
        runs: { type: 'string', default: '2' },
        records: { type: 'string', default: '1000' },
        mode: { type: 'string' },
        backend: { type: 'string' },
        timeout: { type: 'string' },
        only: { type: 'string' },
        ttl: { type: 'string' },
        'batch-size': { type: 'string' },
        write: { type: 'string' },
      },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
const runs = Number(values.runs);
const records = Number(values.records);
const ttlSeconds = values.ttl ? Number(values.ttl) : undefined;
const batchSize = values['batch-size'] ? Number(values['batch-size']) : undefined;
if (batchSize !== undefined && !(Number.isSafeInteger(batchSize) && batchSize >= 1)) {
  console.error(`--batch-size ${values['batch-size']}: expected a whole number of at least 1\n${USAGE}`);
  process.exit(2);
}
let todo = combinations({ mode: values.mode, backend: values.backend, timeout: values.timeout, only: values.only });
const noRabbit = todo.some((c) => c.mode === 'dispatch') ? await rabbitUnavailable() : undefined;
if (noRabbit) {
  console.error(`dispatch mode skipped: ${noRabbit}`);
  todo = todo.filter((c) => c.mode !== 'dispatch');
}
if (todo.length === 0) {
  console.error('no fault matches the filters');
  process.exit(2);
}
// Interrupted (Ctrl-C, a CI timeout's SIGTERM): stop the run's replicas and servers before exiting.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    console.error(`${signal}: stopping the clusters still running`);
    void stopAllClusters().finally(() => process.exit(code));
  });
}
const results: RunResult[] = [];
const started = Date.now();
for (const [i, { fault, mode, backend, timeout }] of todo.entries()) {
  const what = `${fault.name} / ${mode} / ${backend} / ${timeout}`;
  for (let run = 1; run <= runs; run++) {
    const result = await runFault(fault, {
      mode,
      backend,
      timeout,
      ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
      ...(batchSize !== undefined ? { batchSize } : {}),
      records,
      quick: false,
      settleTimeoutMs: 180_000,
    }).catch((err: unknown) => {
      console.error(`${what} #${run} failed to run: ${String(err)}`);
      return undefined;
    });
    if (!result) continue;
    results.push(result);
    console.error(`[${i + 1}/${todo.length}] ${what} #${run}: ${JSON.stringify(result)}`);
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
  batchSize: batchSize ?? CHAOS_BATCH_SIZE,
  command: `node dist/test/chaos/main.js ${process.argv
    .slice(2)
    .map((a) => (a.includes(' ') ? JSON.stringify(a) : a))
    .join(' ')}`,
  minutes: Math.round((Date.now() - started) / 60000),
  ...(noRabbit ? { dispatchSkipped: noRabbit } : {}),
});
console.log(doc);
if (values.write) await writeFile(values.write, doc);
const violations = results.filter(isViolation);
if (violations.length > 0) console.error(`${violations.length} run(s) violated an invariant`);
if (missed.length > 0) console.error(`${missed.length} run(s) missed the failover goal`);
process.exit(violations.length + missed.length > 0 ? 1 : 0);
