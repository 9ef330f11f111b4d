import { ALL_BACKENDS, type Fault, sleep } from './fault.js';

/** Faults of the network between the leader and its servers. */
export const NETWORK_FAULTS: Fault[] = [
  {
    name: 'silent leader↔Postgres link 3×TTL',
    endsTerm: true,
    failoverGoal: true,
    backends: ALL_BACKENDS,
    pgProxyFor: ['a'],
    async inject(ctx) {
      const proxy = ctx.pgProxies.get('a')!;
      ctx.injected();
      proxy.hold();
      await sleep((ctx.quick ? 1.5 : 3) * ctx.ttlMs);
      proxy.heal();
    },
  },
  {
    name: 'silent leader↔election link 3×TTL',
    endsTerm: true,
    backends: ['etcd', 'redis'],
    electionProxy: true,
    async inject(ctx) {
      ctx.injected();
      for (const p of ctx.electionProxies) p.hold();
      await sleep((ctx.quick ? 1.5 : 3) * ctx.ttlMs);
      for (const p of ctx.electionProxies) p.heal();
    },
  },
  {
    name: 'leader isolated (packets dropped) 3×TTL',
    backends: ALL_BACKENDS,
    netns: true,
    failoverGoal: true,
    async inject(ctx) {
      const leader = await ctx.leader();
      const net = ctx.cluster.net!;
      ctx.injected();
      await net.cutOff(leader.id);
      ctx.cluster.note(leader.id, 'isolated (all packets dropped)');
      try {
        await sleep((ctx.quick ? 1.5 : 3) * ctx.ttlMs);
      } finally {
        await net.reconnect(leader.id);
      }
    },
  },
  {
    name: 'host crash: packets dropped, then kill -9 (no FIN)',
    backends: ALL_BACKENDS,
    netns: true,
    failoverGoal: true,
    async inject(ctx) {
      const leader = await ctx.leader();
      const net = ctx.cluster.net!;
      ctx.injected();
      await net.cutOff(leader.id);
      try {
        await ctx.cluster.kill(leader, 'host crashed (packets dropped, then kill -9)');
        await sleep((ctx.quick ? 1.5 : 3) * ctx.ttlMs);
      } finally {
        await net.reconnect(leader.id); // the host is back, rebooted: its process starts anew
      }
      ctx.respawn(leader);
    },
  },
];
