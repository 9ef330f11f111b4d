import { writeFile } from 'node:fs/promises';
import { freshDatabase } from '../bench-postgres.js';
import { percentiles, sleep, wallNow } from '../stats.js';
import type { System } from '../systems.js';
import type { BenchContext, Measurement } from './context.js';

/**
 * An idle worker (concurrency 10); `count` probe records inserted one at a time, `intervalMs` apart; latency
 * is from just before the INSERT (ours: the bench's own connection; peers: their enqueue call, in their
 * process) to the handler's start. Returns p50/p95/p99 in ms.
 */
async function latencyOnce(
  ctx: BenchContext,
  system: System,
  count: number,
  intervalMs: number,
  rep: number,
): Promise<{ p50: number; p95: number; p99: number; max: number }> {
  const db = await freshDatabase(ctx.server, `${system.peer}_${system.config}_latency`, system.migratedByBench);
  try {
    await system.prepare(db, [], 10);
    const run = system.start(db, {
      concurrency: 10,
      logTo: 'pipe',
      ...(system.peer === 'ours' ? {} : { trickle: { count, intervalMs } }),
    });
    const latencies: number[] = [];
    try {
      const sent = new Map<number | string, number>();
      const starts = new Map<number | string, number>();
      run.onMessage((m) => {
        if (m.type !== 'start') return;
        if (m.t0 !== undefined) latencies.push(m.t - m.t0);
        else starts.set(m.id, m.t);
      });
      if (system.peer === 'ours') {
        // "leading: this replica now executes (leader mode) / dispatches (dispatch mode) failed records"
        await waitUntil(() => run.logs.some((l) => l.msg.startsWith('leading: ')), 30_000, 'our replica to lead');
        await sleep(1_000);
        const begin = wallNow();
        for (let i = 0; i < count; i++) {
          await sleep(Math.max(0, begin + i * intervalMs - wallNow()));
          const t0 = wallNow();
          const { rows } = await db.pool.query<{ id: string }>(
            `INSERT INTO failed_records (kind, payload) VALUES ('probe', '{}') RETURNING id`,
          );
          sent.set(Number(rows[0]!.id), t0);
        }
        await waitUntil(() => starts.size >= count, 30_000, 'every probe to start');
        for (const [id, t0] of [...sent].sort((a, b) => a[1] - b[1])) latencies.push(starts.get(id)! - t0);
      } else {
        await waitUntil(() => latencies.length >= count, 120_000, 'every probe to start');
      }
    } finally {
      await run.stop();
    }
    // Every probe's latency in the order it was sent, beside the logs: where the tail comes from.
    await writeFile(
      `${ctx.logDir}/latency-${`${system.peer}-${system.config}`.replace(/[^\w.-]+/g, '_')}-rep${rep + 1}.json`,
      JSON.stringify(latencies.map((l) => Math.round(l * 100) / 100)),
    );
    return percentiles(latencies);
  } finally {
    await db.drop();
  }
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(10);
  }
}

export async function latency(
  ctx: BenchContext,
  systems: System[],
  count: number,
  intervalMs: number,
): Promise<Measurement[]> {
  const results = new Map<System, { p50: number; p95: number; p99: number; max: number }[]>();
  for (let rep = 0; rep < ctx.reps; rep++) {
    for (const system of systems) {
      const r = await latencyOnce(ctx, system, count, intervalMs, rep);
      ctx.log(
        `latency ${system.peer} ${system.config} rep ${rep + 1}: p50 ${r.p50.toFixed(1)} p95 ${r.p95.toFixed(1)}` +
          ` p99 ${r.p99.toFixed(1)} max ${r.max.toFixed(1)} ms`,
      );
      results.set(system, [...(results.get(system) ?? []), r]);
    }
  }
  const out: Measurement[] = [];
  for (const system of systems) {
    for (const p of ['p50', 'p95', 'p99'] as const) {
      out.push({
        workload: 'latency',
        metric: `${p} ms`,
        peer: system.peer,
        config: system.config,
        concurrency: '10',
        runs: results.get(system)!.map((r) => r[p]),
        higherIsBetter: false,
      });
    }
  }
  return out;
}
