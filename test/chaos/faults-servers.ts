import { Redis } from 'ioredis';
import { redisElectionKeys } from '../../src/election/redis-lease.js';
import { waitFor } from '../support/ports.js';
import type { ChaosCluster } from './chaos-cluster.js';
import { ALL_BACKENDS, type Fault, sleep } from './fault.js';

/** etcd's raft leader among the members (the member whose loss is the hardest for keepalives). */
async function etcdRaftLeader(cluster: ChaosCluster): Promise<number> {
  const statuses = await Promise.all(
    cluster.etcd!.members.map(async (m) => {
      const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
        signal: AbortSignal.timeout(2000),
      });
      return (await res.json()) as { header: { member_id: string }; leader: string };
    }),
  );
  return Math.max(
    statuses.findIndex((s) => s.header.member_id === s.leader),
    0,
  );
}

const FENCED = 'fenced: Postgres already holds another term at least as new; stepping down';
const FENCE_FAILED = 'could not store the term in Postgres; retrying';

/** Faults of the servers: etcd members, Postgres, Redis. */
export const SERVER_FAULTS: Fault[] = [
  {
    name: 'kill etcd raft-leader member',
    backends: ['etcd'],
    async inject(ctx) {
      const member = ctx.cluster.etcd!.members[await etcdRaftLeader(ctx.cluster)]!;
      ctx.injected();
      await member.kill();
      await sleep((ctx.quick ? 1 : 2) * ctx.ttlMs);
      await member.restart();
    },
  },
  {
    name: 'etcd quorum loss 2×TTL',
    endsTerm: true,
    backends: ['etcd'],
    async inject(ctx) {
      const victims = ctx.cluster.etcd!.members.slice(0, 2);
      ctx.injected();
      await Promise.all(victims.map((m) => m.kill()));
      await sleep((ctx.quick ? 1.5 : 2) * ctx.ttlMs);
      await Promise.all(victims.map((m) => m.restart()));
    },
  },
  {
    name: 'Postgres restart (fast)',
    backends: ALL_BACKENDS,
    async inject(ctx) {
      ctx.injected();
      await ctx.cluster.db.server.restart!();
    },
  },
  {
    name: "pg_terminate_backend of the leader's claim sessions mid-batch",
    backends: ALL_BACKENDS,
    async inject(ctx) {
      const leader = await ctx.leader();
      const pids = await waitFor(
        "the leader's claim sessions (idle in transaction)",
        async () => {
          const { rows } = await ctx.cluster.pool.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state LIKE 'idle in transaction%'`,
            [`retry-worker ${leader.id}`],
          );
          return rows.length > 0 ? rows.map((r) => r.pid) : undefined;
        },
        15_000,
        5,
      );
      ctx.injected();
      await ctx.cluster.pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
      ctx.note(`terminated ${pids.length} claim session(s) of ${leader.id}`);
    },
  },
  {
    name: 'Redis failover losing the last INCR, and a failed fence round trip',
    endsTerm: true,
    backends: ['redis'],
    pgProxyFor: ['a', 'b', 'c'],
    async inject(ctx) {
      const leader = await ctx.leader();
      const keys = redisElectionKeys(ctx.cluster.baseEnv.ELECTION_NAME!);
      const redis = new Redis(ctx.cluster.redis!.url, { maxRetriesPerRequest: 1 });
      try {
        const epoch = Number(await redis.get(keys.epoch));
        // Postgres goes silent for a moment (every replica's link): the fence of whoever wins the repeated
        // epoch gets no answer, and is tried again once the links are back (reset).
        for (const proxy of ctx.pgProxies.values()) proxy.hold();
        ctx.injected();
        // A failover to a Redis replica that missed the last INCR and the leader key: the next win gets
        // the epoch of the term that still runs.
        await redis
          .multi()
          .set(keys.epoch, String(epoch - 1))
          .del(keys.leader)
          .exec();
        ctx.note(`epoch counter rolled back from ${epoch} to ${epoch - 1}, leader key (${leader.id}) deleted`);
        await sleep(2_000);
      } finally {
        for (const proxy of ctx.pgProxies.values()) proxy.heal();
        redis.disconnect();
      }
    },
    async check(ctx) {
      const lines = ctx.cluster.replicas.flatMap((r) => r.logs.map((l) => ({ ...l, replica: r.id })));
      const refused = lines.filter((l) => l.msg === FENCED);
      const failedFences = lines.filter((l) => l.msg === FENCE_FAILED);
      const notes = [
        `fence refused ${refused.length} term(s) (${refused.map((l) => `${l.replica} epoch ${l.epoch}`).join(', ')})`,
        `${failedFences.length} fence round trip(s) failed and were retried`,
      ];
      const violations: string[] = [];
      if (refused.length === 0) notes.push('no term was handed a repeated epoch this run (the fault did not bite)');
      if (failedFences.length === 0)
        notes.push('no fence round trip failed this run (the winner fenced after the heal)');
      return { violations, notes };
    },
  },
];
