import type { TestCluster } from '../support/cluster.js';
import type { Replica } from '../support/replica.js';
import type { TcpProxy } from '../support/tcp-proxy.js';

export interface FaultContext {
  cluster: TestCluster;
  ttlMs: number;
  /** The replica that leads now (waits for one). */
  leader(): Promise<Replica>;
  /** Starts a replacement for a replica that exited, under the same id and settings. */
  respawn(replica: Replica): Replica;
  /** The proxies replica `a` talks through, when the fault asked for them. */
  pgProxy?: TcpProxy;
  etcdProxies?: TcpProxy[];
}

export interface Fault {
  name: string;
  /** Which of replica a's paths go through a proxy of the suite's own (a is then started first, to lead). */
  proxy?: 'postgres' | 'etcd';
  /** Records slower than the execution timeout join the mix. */
  slowRecords?: boolean;
  /** Injects the fault and heals it; returns when the cluster is meant to be healthy again. */
  inject(ctx: FaultContext): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** etcd's raft leader among the members (the member whose loss is the hardest for keepalives). */
async function etcdRaftLeader(cluster: TestCluster): Promise<number> {
  const statuses = await Promise.all(
    cluster.etcd.members.map(async (m) => {
      const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
        signal: AbortSignal.timeout(2000),
      });
      return (await res.json()) as { header: { member_id: string }; leader: string };
    }),
  );
  const index = statuses.findIndex((s) => s.header.member_id === s.leader);
  return Math.max(index, 0);
}

export const FAULTS: Fault[] = [
  {
    name: 'kill -9 leader',
    async inject(ctx) {
      const leader = await ctx.leader();
      await leader.kill();
      ctx.respawn(leader);
    },
  },
  {
    name: 'SIGSTOP leader 2.5×TTL',
    async inject(ctx) {
      const leader = await ctx.leader();
      leader.signal('SIGSTOP');
      await sleep(2.5 * ctx.ttlMs);
      leader.signal('SIGCONT');
    },
  },
  {
    name: 'rolling restart (SIGTERM)',
    async inject(ctx) {
      for (const replica of ctx.cluster.replicas.filter((r) => r.alive)) {
        replica.signal('SIGTERM');
        await replica.exited;
        ctx.respawn(replica);
        await sleep(1000);
      }
    },
  },
  {
    name: 'kill etcd raft-leader member',
    async inject(ctx) {
      const member = ctx.cluster.etcd.members[await etcdRaftLeader(ctx.cluster)]!;
      await member.kill();
      await sleep(2 * ctx.ttlMs);
      await member.restart();
    },
  },
  {
    name: 'etcd quorum loss 2×TTL',
    async inject(ctx) {
      const victims = ctx.cluster.etcd.members.slice(0, 2);
      await Promise.all(victims.map((m) => m.kill()));
      await sleep(2 * ctx.ttlMs);
      await Promise.all(victims.map((m) => m.restart()));
    },
  },
  {
    name: 'Postgres restart (fast)',
    async inject(ctx) {
      await ctx.cluster.db.server.restart!();
    },
  },
  {
    name: 'silent leader↔Postgres link 3×TTL',
    proxy: 'postgres',
    async inject(ctx) {
      ctx.pgProxy!.hold();
      await sleep(3 * ctx.ttlMs);
      ctx.pgProxy!.heal();
    },
  },
  {
    name: 'silent leader↔etcd link 3×TTL',
    proxy: 'etcd',
    async inject(ctx) {
      for (const p of ctx.etcdProxies!) p.hold();
      await sleep(3 * ctx.ttlMs);
      for (const p of ctx.etcdProxies!) p.heal();
    },
  },
  {
    name: 'slow handler past the execution timeout',
    slowRecords: true,
    async inject() {
      // The fault is in the records: some take longer than EXECUTION_TIMEOUT_MS.
    },
  },
];
