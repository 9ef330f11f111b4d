import { waitFor } from '../support/ports.js';
import { isLeading } from '../support/replica.js';
import { ALL_BACKENDS, type Fault, type FaultContext, sleep } from './fault.js';

/** kill -9 of the leader, then the same replica started again (as a supervisor would). */
export async function killAndRespawnLeader(ctx: FaultContext): Promise<void> {
  const leader = await ctx.leader();
  ctx.injected();
  await ctx.cluster.kill(leader);
  ctx.respawn(leader);
}

/** Faults of the replica processes themselves: crashes, pauses, restarts, a blocked event loop. */
export const PROCESS_FAULTS: Fault[] = [
  {
    name: 'kill -9 leader',
    backends: ALL_BACKENDS,
    modes: ['leader', 'dispatch'], // in dispatch mode: the dispatcher, itself a consumer mid-execution too
    failoverGoal: true,
    inject: killAndRespawnLeader,
  },
  {
    name: 'SIGSTOP leader past the lease',
    backends: ALL_BACKENDS,
    modes: ['leader', 'dispatch'],
    failoverGoal: true,
    async inject(ctx) {
      const leader = await ctx.leader();
      ctx.injected();
      ctx.cluster.note(leader.id, 'paused (SIGSTOP)');
      leader.signal('SIGSTOP');
      await sleep((ctx.quick ? 1.5 : 2.5) * ctx.ttlMs);
      leader.signal('SIGCONT');
    },
  },
  {
    name: 'rolling restart (SIGTERM)',
    endsTerm: true,
    backends: ALL_BACKENDS,
    async inject(ctx) {
      ctx.injected();
      for (const replica of ctx.cluster.replicas.filter((r) => r.alive)) {
        ctx.cluster.note(replica.id, 'stopped (SIGTERM)');
        replica.signal('SIGTERM');
        await replica.exited;
        const next = ctx.respawn(replica);
        await next.waitForLog((l) => l.msg === 'following the leader' || isLeading(l), 20_000).catch(() => undefined);
      }
    },
  },
  {
    name: 'handler blocks the event loop past the lease',
    backends: ALL_BACKENDS,
    handlers: true,
    failoverGoal: true,
    async inject(ctx) {
      const blockMs = ctx.ttlMs + 3_000;
      await ctx.leader();
      // One record, max_attempts 1: the leader that runs it is blocked; the next one finds its attempt spent.
      const body = { mode: 'ok', delayMs: 5, blockMs };
      const { rows } = await ctx.cluster.pool.query<{ uid: string }>(
        `INSERT INTO failed_records (kind, payload, max_attempts) VALUES ('block', $1::jsonb, 1) RETURNING uid`,
        [JSON.stringify({ ...ctx.cluster.sink.payload({ mode: 'ok' }), body })],
      );
      const uid = rows[0]!.uid;
      ctx.book.expected.set(uid, { status: 'dead', maxAttempts: 1 });
      // Its start is logged only when it ends; its ledger row is written just before it starts.
      const started = await waitFor(
        'the blocking handler to start',
        async () =>
          (
            await ctx.cluster.pool.query<{ at: number; replica: string }>(
              `SELECT extract(epoch FROM started_at) * 1000 AS at, replica_id AS replica
               FROM retry_worker_attempts WHERE record_uid = $1`,
              [uid],
            )
          ).rows[0],
        30_000,
        20,
      );
      const startedAt = Number(started.at);
      ctx.injected(startedAt);
      ctx.cluster.note(started.replica, 'blocked (a handler busy-waited on its event loop)', startedAt);
      await sleep(startedAt + blockMs + 1_000 - Date.now());
    },
  },
  {
    name: 'static leader kill -9 and restart',
    backends: ['static'],
    failoverGoal: true,
    inject: killAndRespawnLeader,
  },
  {
    name: 'static: Postgres down longer than the lease',
    endsTerm: true,
    backends: ['static'],
    async inject(ctx) {
      await ctx.leader();
      ctx.injected();
      await ctx.cluster.db.server.restart!(ctx.ttlMs + 3_000);
    },
  },
];
