import type { RunResult } from './analyse.js';
import { STRANDED_AFTER_MS } from './analyse-dispatch.js';
import { failoverTable, reportTable } from './report.js';

/**
 * The section of docs/RELIABILITY.md on dispatch mode: what its runs do, what each check means there (the
 * same words as analyse-dispatch.ts), and its tables. `skipped`: why no dispatch run was made.
 */
export function dispatchSection(
  results: readonly RunResult[],
  goalFaults: ReadonlySet<string>,
  ttlSeconds: number,
  skipped: string | undefined,
): string {
  const runs = results.filter((r) => r.mode === 'dispatch');
  const tables =
    runs.length > 0
      ? `${reportTable(results, 'dispatch')}

Failover at default settings, in dispatch mode (from the injection to the first execution under a newer
epoch: once a new term is fenced, every consumer executes under it, whoever published the message):

${failoverTable(results, 'dispatch', goalFaults, ttlSeconds)}

The goal is asserted, as in leader mode, for the dispatcher's crash and freeze; the consumer faults end no
term; why the 15 s fault's failover is not held to it is said with the fault above.`
      : `No dispatch-mode run was made${skipped ? `: ${skipped}` : ''}.`;
  return `## Dispatch mode (EXECUTION_MODE=dispatch)

In dispatch mode the elected leader marks due records and publishes one message each to a RabbitMQ quorum
queue; every replica, the leader too, consumes: the messages it receives together form a group, whose rows it
locks FOR UPDATE SKIP LOCKED in one transaction (holding the handover barrier shared); it writes the attempts
to the ledger, runs the handlers, commits the outcomes, and only then acknowledges the messages. The faults
below run in that mode with the same three replicas, sink and record mix, and: on etcd only (the election only
gates who dispatches, and every backend's failover is shown in leader mode above); at default settings only
(lease TTL 5 s, execution timeout 60 s, DISPATCH_REDELIVER_AFTER_MS 2 min, AMQP heartbeat 5 s); with a
RabbitMQ vhost of the run's own on the machine's broker (RabbitMQ 3.10, 127.0.0.1:5672), deleted after the run
(the broker's own crash has a node of its own); and with 5 % of the records taking a second, in slices between
the others, so that a message that comes again (redelivered by the broker, republished by a new leader) meets
its record still executing elsewhere.

- kill -9 consumer mid-execution: a replica that does not lead, once the ledger shows it with three attempts
  in progress; started again at once, as a supervisor would;
- kill -9 leader: the dispatcher, itself a consumer with executions in progress; started again at once;
- SIGSTOP leader past the lease: the dispatcher frozen for 2.5 × TTL, its executions with it;
- RabbitMQ closes every connection: once the backlog is through, ten 5 s records are inserted, and while
  three of them run \`rabbitmqctl close_connection\` closes every connection of the run's vhost at once (a
  publisher and a consumer per replica); their messages are redelivered at once to the consumers that
  reconnect, while their records still run where they were;
- silent consumer↔RabbitMQ link 3×TTL: replica b's AMQP connection runs through a TCP proxy of the suite's
  own, which stops moving bytes (no FIN, no RST) and resets the connections when it heals. The machine's
  broker listens on loopback only, so leader mode's network-namespace cut cannot reach it;
- silent consumer↔Postgres link 3×TTL: replica b's Postgres connections the same way;
- consumer cut off from Postgres, then kill -9: replica b's Postgres connections go silent, closes included,
  and b is killed at once (as a liveness probe would restart it): the broker redelivers b's messages at once,
  while Postgres keeps b's transactions and their row locks until it ends them as idle, a TTL later;
- RabbitMQ killed (kill -9) and started again: this fault's runs have a RabbitMQ node of their own (own
  ports, epmd and data directory), not a vhost on the machine's broker. Once the queue is in use the node is
  restarted gracefully (so that the queue is on disk, as a queue in use long since is); then, while three
  attempts run, the node's Erlang VM gets SIGKILL; 3 s later the same node starts again, on its data. The
  messages that were unacknowledged stay in the durable quorum queue and come back once the consumers
  reconnect, some of them for records that finished meanwhile (their acknowledgement died with the
  connection); the leader stops dispatching while it cannot publish;
- kill -9 leader while consumers run 15 s executions: once the backlog is through, six 15 s records start
  and the dispatcher is killed. A new term is fenced only once every execution of the old epoch has ended,
  and here the other replicas' executions are alive and hold the handover barrier: the next term executes
  (and dispatches) only after them. So in dispatch mode the failover is bounded by the lease TTL or by the
  longest execution in flight on the surviving replicas, whichever is longer (up to EXECUTION_TIMEOUT_MS,
  60 s by default), not by TTL + 2 s; the failover goal is not asserted for this fault, and its row shows
  the time. Leader mode does not have this: there only the leader executes, and its transactions end with it.

What the checks mean in dispatch mode (test/chaos/analyse-dispatch.ts):

- overlaps: unchanged, and the check dispatch mode lives by. A message comes again while its record may still
  run elsewhere (the broker redelivers a consumer's unacknowledged messages when its connection ends; a new
  leader publishes at once every mark an earlier term left); only the row lock, held for the whole
  execution, keeps such a copy from running: it finds no row, and goes back to the queue while the record is
  still due under its token (else it is dropped);
- term overlaps: only two epochs' executions in progress at once. A consumer holds the handover barrier
  shared for its whole execution and sends the epoch Postgres holds as its fencing token, so a new leader's
  fence waits for every execution of the old epoch on every replica. Several replicas executing under one
  epoch is what dispatch mode does on purpose and is not counted;
- stale-term starts: unchanged, and it holds every consumer to it, not only the dispatcher: no request of an
  older epoch may start after a newer term was fenced;
- lost, over max_attempts, ledger duplicates, succeeded then dead: unchanged, per record; a consumer's crash
  still counts its attempt;
- stranded (message lost), dispatch mode only: the outside view of "a message is acknowledged only after its
  record's outcome is committed". A message acknowledged early and lost with its consumer leaves its record
  pending and marked as in flight until the leader's sweep after DISPATCH_REDELIVER_AFTER_MS: nothing is lost
  in the end, but the message was. Every second of a run the suite reads the marks of pending records; a
  record whose mark is older than ${STRANDED_AFTER_MS / 1000} s counts. "Oldest mark" is the oldest mark of a
  pending record seen in any run of the row: how long a message was outstanding at most.

When these runs were added (issue 17) they were tried against broken consumers: without FOR UPDATE SKIP
LOCKED in the consumer's lock, "RabbitMQ closes every connection" showed 10 to 16 overlaps in each run; with
the consumer acknowledging a message on receipt, "kill -9 consumer mid-execution" showed stranded records in
each run. The stranded check also found a real fault: a message redelivered after its consumer's death could
reach another consumer before Postgres had ended the dead transaction, find the row still locked, and be
dropped as a duplicate, its record stranded until the sweep (shown by "consumer cut off from Postgres, then
kill -9" in every run, and at times by the plain kill -9). The consumer now requeues a message whose record
is still due under its token (dispatchHeld, src/db/dispatch-held.ts).

${tables}
`;
}
