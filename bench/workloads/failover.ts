import { type BenchDatabase, freshDatabase } from '../bench-postgres.js';
import { sleep, wallNow } from '../stats.js';
import type { Running, System } from '../systems.js';
import type { BenchContext, Measurement } from './context.js';

const LEADING = 'leading: this replica now executes failed records';
const FOLLOWING = 'following the leader';
const ENDED = 'leadership ended';

/**
 * Ours only: two replicas (one more is started after each try), a trickle of probe records (one every 5 ms),
 * and `tries` times the leader is stopped (SIGTERM) or killed (SIGKILL). Measured: from the signal to the
 * first handler start on the new leader; for SIGTERM also from the old leader's "leadership ended" line (its
 * resignation) to that start.
 */
async function failoverSeries(
  ctx: BenchContext,
  system: System,
  mode: 'graceful' | 'crash',
  ttlSeconds: number,
  tries: number,
): Promise<{ fromSignal: number[]; fromResign: number[] }> {
  const db = await freshDatabase(ctx.server, `failover_${mode}_${ttlSeconds}`, true);
  const replicas: { id: string; run: Running }[] = [];
  const starts: { replica: string; t: number }[] = [];
  let serial = 0;
  const electionName = `bench-failover-${db.name}`;
  const launch = () => {
    const id = `r${++serial}`;
    const run = system.start(db, {
      concurrency: 10,
      logTo: 'pipe',
      env: { REPLICA_ID: id, LEASE_TTL_SECONDS: String(ttlSeconds), ELECTION_NAME: electionName },
    });
    run.onMessage((m) => m.type === 'start' && starts.push({ replica: m.replica ?? '', t: m.t }));
    replicas.push({ id, run });
    return { id, run };
  };
  const trickle = startTrickle(db);
  const fromSignal: number[] = [];
  const fromResign: number[] = [];
  try {
    launch();
    await waitUntil(() => replicas.some((r) => r.run.logs.some((l) => l.msg === LEADING)), 30_000, 'a first leader');
    for (let i = 0; i < tries; i++) {
      const standby = launch();
      await waitUntil(() => standby.run.logs.some((l) => l.msg === FOLLOWING), 30_000, 'the standby to follow');
      const leader = replicas.find((r) => r.run.alive && r !== standby && r.run.logs.some((l) => l.msg === LEADING))!;
      await sleep(500);
      const t = wallNow();
      leader.run.signal(mode === 'graceful' ? 'SIGTERM' : 'SIGKILL');
      await waitUntil(
        () => starts.some((s) => s.replica === standby.id && s.t > t),
        ttlSeconds * 1000 + 20_000,
        'the new leader to execute',
      );
      const first = starts.find((s) => s.replica === standby.id && s.t > t)!.t;
      fromSignal.push(first - t);
      if (mode === 'graceful') {
        const ended = leader.run.logs.find((l) => l.msg === ENDED);
        if (ended) fromResign.push(first - ended.time);
      }
      await leader.run.exited;
      ctx.log(
        `failover ${mode} TTL ${ttlSeconds} s try ${i + 1}: ${(first - t).toFixed(0)} ms from the signal` +
          `${mode === 'graceful' ? `, ${fromResign.at(-1)?.toFixed(0)} ms from the resignation` : ''}`,
      );
    }
  } finally {
    await trickle.stop();
    await Promise.all(replicas.map((r) => r.run.stop(5_000)));
    await db.drop();
  }
  return { fromSignal, fromResign };
}

function startTrickle(db: BenchDatabase): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await db.pool.query(`INSERT INTO failed_records (kind, payload) VALUES ('probe', '{}')`).catch(() => undefined);
      await sleep(5);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(5);
  }
}

export async function failover(
  ctx: BenchContext,
  system: System,
  ttls: number[],
  tries: number,
): Promise<Measurement[]> {
  const out: Measurement[] = [];
  for (const ttl of ttls) {
    for (const mode of ['graceful', 'crash'] as const) {
      const r = await failoverSeries(ctx, system, mode, ttl, tries);
      const base = {
        workload: 'failover',
        peer: 'ours',
        config: `TTL ${ttl} s`,
        concurrency: '10',
        higherIsBetter: false,
      };
      out.push({
        ...base,
        metric: mode === 'graceful' ? 'SIGTERM → new leader executes, ms' : 'kill -9 → new leader executes, ms',
        runs: r.fromSignal,
      });
      if (mode === 'graceful')
        out.push({ ...base, metric: 'resignation → new leader executes, ms', runs: r.fromResign });
    }
  }
  return out;
}
