import { waitFor } from '../support/ports.js';
import type { Replica } from '../support/replica.js';
import type { TcpProxy } from '../support/tcp-proxy.js';
import { privateBroker } from './chaos-cluster.js';
import { DISPATCH_BACKENDS, type Fault, type FaultContext, sleep } from './fault.js';
import { killAndRespawnLeader } from './faults-process.js';

/**
 * Waits (up to 30 s) until `replica` (or any replica) has at least `n` attempts in progress per the ledger: a
 * row without an outcome, started in the last 3 s (a row of an executor that died keeps no outcome forever);
 * with `long`, attempts of the mix's long records (a second each). Returns whether it saw them; the fault goes
 * ahead either way, and says so.
 */
async function attemptsInProgress(
  ctx: FaultContext,
  n: number,
  { replica, long = false }: { replica?: Replica; long?: boolean } = {},
): Promise<boolean> {
  const what = `${n} ${long ? 'long ' : ''}attempts in progress on ${replica?.id ?? 'any replica'}`;
  const seen = await waitFor(
    what,
    async () => {
      const { rows } = await ctx.cluster.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM failed_record_attempts a JOIN failed_records f ON f.uid = a.record_uid
         WHERE a.outcome IS NULL AND a.started_at > now() - interval '3 seconds'
           AND ($1::text IS NULL OR a.replica_id = $1)
           AND (NOT $2 OR (f.payload #>> '{body,delayMs}')::int >= 1000)`,
        [replica?.id ?? null, long],
      );
      return rows[0]!.n >= n || undefined;
    },
    30_000,
    10,
  ).catch(() => false);
  if (!seen) ctx.note(`the fault hit without ${what}`);
  return seen;
}

/**
 * Waits (up to 2 min) until the run's first records are through and only the trickle is due: a record that is
 * due again is then dispatched at once, not behind hundreds of others.
 */
async function backlogDrained(ctx: FaultContext): Promise<void> {
  await waitFor(
    'the backlog to drain',
    async () => {
      const { rows } = await ctx.cluster.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM failed_records WHERE status = 'pending'`,
      );
      return rows[0]!.n < 20 || undefined;
    },
    120_000,
    100,
  ).catch(() => ctx.note('the backlog had not drained when the fault hit'));
}

/** A live replica that does not lead now: a consumer only. */
async function consumer(ctx: FaultContext): Promise<Replica> {
  const leader = await ctx.leader();
  return ctx.cluster.replicas.find((r) => r.alive && r !== leader)!;
}

/** Replica `id`, noting if it leads now (the fault meant a consumer only). */
async function namedConsumer(ctx: FaultContext, id: string): Promise<Replica> {
  const replica = ctx.cluster.replicas.find((r) => r.alive && r.id === id)!;
  if ((await ctx.leader()) === replica) ctx.note(`${id} led when the fault hit: it cut the dispatcher too`);
  return replica;
}

/**
 * Replica b, a consumer with attempts in progress, loses its link to `server`: its proxy goes silent (no FIN,
 * no RST) for 3 × TTL (1.5 × in the quick form), then resets its connections.
 */
async function silenceLinkOfB(ctx: FaultContext, proxies: Map<string, TcpProxy>, server: string): Promise<void> {
  const b = await namedConsumer(ctx, 'b');
  await attemptsInProgress(ctx, 2, { replica: b });
  ctx.injected();
  ctx.cluster.note('b', `cut off from ${server} (silent link)`);
  const proxy = proxies.get('b')!;
  proxy.hold();
  await sleep((ctx.quick ? 1.5 : 3) * ctx.ttlMs);
  proxy.heal();
}

/** Died attempts (no outcome) of `replica` per the ledger, once every record is final. */
async function diedAttempts(ctx: FaultContext, replica: string): Promise<number> {
  const { rows } = await ctx.cluster.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM failed_record_attempts WHERE replica_id = $1 AND outcome IS NULL`,
    [replica],
  );
  return rows[0]!.n;
}

/**
 * Faults of dispatch mode's own parts (EXECUTION_MODE=dispatch): a consumer's process, its links to RabbitMQ
 * and to Postgres. The dispatching leader's crash and pause are the process faults (faults-process.ts), run
 * in both modes. The broker's own crash runs on a RabbitMQ node of the run's own (privateBroker).
 */
export const DISPATCH_FAULTS: Fault[] = [
  {
    name: 'kill -9 consumer mid-execution',
    modes: ['dispatch'],
    quickDispatch: true,
    backends: DISPATCH_BACKENDS,
    async inject(ctx) {
      const victim = await consumer(ctx);
      await attemptsInProgress(ctx, 3, { replica: victim });
      ctx.injected();
      await ctx.cluster.kill(victim);
      ctx.respawn(victim);
    },
    async check(ctx) {
      const victim = ctx.cluster.events.find((e) => e.what.startsWith('killed'))?.replicaId ?? '?';
      return { violations: [], notes: [`${await diedAttempts(ctx, victim)} attempt(s) died with ${victim}`] };
    },
  },
  {
    name: 'RabbitMQ closes every connection',
    modes: ['dispatch'],
    quickDispatch: true,
    backends: DISPATCH_BACKENDS,
    async inject(ctx) {
      // The messages of the closed connections are redelivered at once to the consumers still connected, while
      // their records still run where they were: 5 s records, on a cluster through its backlog (so that a record
      // wrongly taken for a died attempt would be dispatched again at once and meet its first execution).
      await backlogDrained(ctx);
      // Ten: at most BATCH_SIZE (20) messages are in flight, and the rest of the records want room too.
      await ctx.book.insert(10, { mode: 'ok', delayMs: 5_000 }, { status: 'succeeded', maxAttempts: 5 });
      await attemptsInProgress(ctx, 3, { long: true });
      ctx.injected();
      const closed = await ctx.cluster.broker!.closeConnections('chaos: connection closed by the broker');
      ctx.note(`the broker closed ${closed} connection(s) (a publisher and a consumer per replica)`);
    },
  },
  {
    name: 'silent consumer↔RabbitMQ link 3×TTL',
    modes: ['dispatch'],
    backends: DISPATCH_BACKENDS,
    brokerProxyFor: ['b'],
    inject: (ctx) => silenceLinkOfB(ctx, ctx.brokerProxies, 'RabbitMQ'),
  },
  {
    name: 'silent consumer↔Postgres link 3×TTL',
    modes: ['dispatch'],
    backends: DISPATCH_BACKENDS,
    pgProxyFor: ['b'],
    inject: (ctx) => silenceLinkOfB(ctx, ctx.pgProxies, 'Postgres'),
    async check(ctx) {
      return { violations: [], notes: [`${await diedAttempts(ctx, 'b')} attempt(s) of b ended without an outcome`] };
    },
  },
  {
    // A consumer cut off from Postgres is killed, as a liveness probe would restart it: the broker sees its
    // connection close at once and redelivers its messages, while Postgres keeps its transactions, and their
    // row locks, until it ends them as idle (a lease TTL later). A copy that meets such a row must not be
    // dropped as a duplicate: it is the record's only message.
    name: 'consumer cut off from Postgres, then kill -9',
    modes: ['dispatch'],
    quickDispatch: true,
    backends: DISPATCH_BACKENDS,
    pgProxyFor: ['b'],
    async inject(ctx) {
      const b = await namedConsumer(ctx, 'b');
      await attemptsInProgress(ctx, 2, { replica: b });
      ctx.injected();
      const proxy = ctx.pgProxies.get('b')!;
      proxy.blackhole();
      await ctx.cluster.kill(b, 'cut off from Postgres, then killed (kill -9)');
      await sleep(2 * ctx.ttlMs); // Postgres ends its sessions after a TTL idle in their transactions
      proxy.heal();
      ctx.respawn(b);
    },
    async check(ctx) {
      return { violations: [], notes: [`${await diedAttempts(ctx, 'b')} attempt(s) died with b`] };
    },
  },
  {
    // The broker dies with messages in flight: the unacknowledged ones stay in the durable quorum queue, and
    // come back once the node is up and the consumers reconnect; their records may have finished meanwhile
    // (the ack was lost with the connection), so some copies are duplicates, dropped. The leader stops
    // dispatching while it cannot publish, and says so.
    name: 'RabbitMQ killed (kill -9) and started again',
    modes: ['dispatch'],
    backends: DISPATCH_BACKENDS,
    broker: privateBroker,
    async inject(ctx) {
      const node = ctx.cluster.broker!.node!;
      // RabbitMQ (3.10 here) puts a new quorum queue's member on disk lazily: a node killed seconds after the
      // queue was declared started again without it ("running pre init for 0 registered servers"), and the
      // queue never had a leader again ("leader not known"), so nothing was published or consumed for good.
      // A queue in use has been on disk long since: one graceful restart, before the fault, makes this one so.
      await attemptsInProgress(ctx, 3);
      await node.stop();
      await node.start();
      await attemptsInProgress(ctx, 3);
      ctx.injected();
      await node.kill();
      await sleep(3_000);
      const startAt = Date.now();
      await node.start();
      ctx.note(`RabbitMQ killed (kill -9), started again 3 s later; it answered AMQP after ${Date.now() - startAt} ms`);
    },
  },
  {
    // The fence waits on the handover barrier for every execution of the old epoch, and in dispatch mode the
    // other replicas' executions are alive and hold it: the next term starts (and dispatches) only once they
    // end. Shown, not asserted against the failover goal: it is bounded by the longest execution in flight.
    name: 'kill -9 leader while consumers run 15 s executions',
    modes: ['dispatch'],
    backends: DISPATCH_BACKENDS,
    async inject(ctx) {
      await backlogDrained(ctx);
      await ctx.book.insert(6, { mode: 'ok', delayMs: 15_000 }, { status: 'succeeded', maxAttempts: 5 });
      await attemptsInProgress(ctx, 6, { long: true });
      await killAndRespawnLeader(ctx);
    },
  },
];
