import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { claimRecords } from '../../src/db/claim-records.js';
import { termLockKey } from '../../src/db/term-lock.js';
import { type BenchDatabase, freshDatabase, settle } from '../bench-postgres.js';
import { percentile, sleep } from '../stats.js';
import type { System } from '../systems.js';
import type { BenchContext, Measurement } from './context.js';

/**
 * Claim cost with a small and a large backlog. For each system: the rate of the first `measure` executions
 * (from the first handler start to the `measure`-th, so start-up is left out) with `small` and with `large`
 * no-op records pending; the figure is rate(small) / rate(large), so 1.0 means the backlog costs nothing.
 * For ours, also the claim statement itself (claimRecords, 100 rows, rolled back) timed on both databases.
 */
export async function backlog(
  ctx: BenchContext,
  systems: System[],
  small: number,
  large: number,
  measure: number,
): Promise<Measurement[]> {
  const out: Measurement[] = [];
  for (const system of systems) {
    const rates: Record<'small' | 'large', number[]> = { small: [], large: [] };
    const largeDb = await freshDatabase(ctx.server, `${system.peer}_${system.config}_backlog`, system.migratedByBench);
    try {
      const t = Date.now();
      await system.prepare(largeDb, [{ kind: 'noop', count: large }], 10);
      await settle(largeDb);
      ctx.log(
        `backlog ${system.peer} ${system.config}: ${large}` +
          ` records enqueued in ${((Date.now() - t) / 1000).toFixed(1)} s`,
      );
      let claimSmall: number[] = [];
      let claimLarge: number[] = [];
      if (system.peer === 'ours') claimLarge = await timeOurClaim(largeDb);
      for (let rep = 0; rep < ctx.reps; rep++) {
        const smallDb = await freshDatabase(
          ctx.server,
          `${system.peer}_${system.config}_small`,
          system.migratedByBench,
        );
        try {
          await system.prepare(smallDb, [{ kind: 'noop', count: small }], 10);
          await settle(smallDb);
          if (system.peer === 'ours' && rep === 0) claimSmall = await timeOurClaim(smallDb);
          rates.small.push(await firstExecutionsRate(ctx, system, smallDb, Math.min(measure, small)));
        } finally {
          await smallDb.drop();
        }
        rates.large.push(await firstExecutionsRate(ctx, system, largeDb, measure));
        ctx.log(
          `backlog ${system.peer} ${system.config} rep ${rep + 1}: ${Math.round(rates.small.at(-1)!)}` +
            ` records/s with ${small} pending` +
            `, ${Math.round(rates.large.at(-1)!)} with ${large}`,
        );
      }
      const base = {
        workload: 'backlog',
        peer: system.peer,
        config: system.config,
        concurrency: '10',
        higherIsBetter: false,
      };
      out.push({
        ...base,
        metric:
          `rate with ${small / 1000}k ÷ rate with ` +
          `${large >= 1e6 ? `${large / 1e6}M` : `${large / 1000}k`} pending`,
        runs: rates.small.map((s, i) => s / rates.large[i]!),
        extra: { rateSmall: rates.small, rateLarge: rates.large },
      });
      if (system.peer === 'ours') {
        out.push({
          ...base,
          metric: 'claim statement (100 rows) ms, large ÷ small backlog',
          runs: [median(claimLarge) / median(claimSmall)],
          extra: { claimSmallMs: claimSmall, claimLargeMs: claimLarge },
        });
        ctx.log(
          `backlog ours claim statement: median ${median(claimSmall).toFixed(2)} ms with ${small} pending` +
            `, ${median(claimLarge).toFixed(2)} ms with ${large}`,
        );
      }
    } finally {
      await largeDb.drop();
    }
  }
  return out;
}

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

async function firstExecutionsRate(
  ctx: BenchContext,
  system: System,
  db: BenchDatabase,
  measure: number,
): Promise<number> {
  const every = 1000;
  const target = Math.floor(measure / every) * every;
  const run = system.start(db, {
    concurrency: 10,
    reportEvery: every,
    logTo: `${ctx.logDir}/${`${system.peer}-${system.config}`.replace(/[^\w.-]+/g, '_')}-backlog.log`,
  });
  try {
    const deadline = Date.now() + 180_000;
    for (;;) {
      const reached = run.messages.find(
        (m): m is Extract<typeof m, { type: 'count' }> => m.type === 'count' && m.count >= target,
      );
      const first = run.messages.find((m): m is Extract<typeof m, { type: 'first' }> => m.type === 'first');
      if (reached && first) return (target - 1) / ((reached.t - first.t) / 1000);
      if (Date.now() > deadline)
        throw new Error(`bench: ${system.peer} ${system.config} did not reach ${target} executions`);
      await sleep(10);
    }
  } finally {
    await run.stop();
  }
}

/** Our claim transaction as the retry loop runs it (barrier, fence check, claim of 100), rolled back; ms each. */
async function timeOurClaim(db: BenchDatabase, times = 100): Promise<number[]> {
  const name = 'bench-claim';
  const token = randomUUID();
  await db.pool.query(
    `INSERT INTO retry_worker_leader (name, epoch, token, holder) VALUES ($1, 1, $2, 'bench')` +
      ` ON CONFLICT (name) DO UPDATE SET epoch = 1, token = $2`,
    [name, token],
  );
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const ms: number[] = [];
  try {
    for (let i = 0; i < times; i++) {
      const t = performance.now();
      await claimRecords(client, {
        name,
        epoch: 1,
        token,
        limit: 100,
        payloadMaxBytes: 1024 * 1024,
        lockKey: termLockKey(name),
        caps: new Map(),
      });
      ms.push(performance.now() - t);
      await client.query('ROLLBACK');
    }
  } finally {
    await client.end();
  }
  return ms;
}
