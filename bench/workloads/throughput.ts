import { type BenchDatabase, freshDatabase, settle } from '../bench-postgres.js';
import { sleep, wallNow } from '../stats.js';
import { cpuSeconds, machineJiffies, rssMiB, type System } from '../systems.js';
import type { BenchContext, Measurement } from './context.js';

export interface DrainRun {
  /** Records per second from spawning the process to the database showing every record done. */
  rate: number;
  /** Records per second from the first handler start to done (leaves out process start-up). */
  rateAfterFirst: number;
  startupMs: number;
  peakRssMiB: number;
  capped: boolean;
  /** Transactions committed in the database while it ran, per record done (the bench's own polls included). */
  commitsPerRecord: number;
  /** CPU seconds the worker process used (start-up included). */
  workerCpuS: number;
  /** Share of the machine's CPU time that was busy during the run (everything on it, the bench included). */
  machineBusy: number;
}

async function commits(db: BenchDatabase): Promise<number> {
  await db.pool.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await db.pool.query<{ n: string }>(
    'SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()',
  );
  return Number(rows[0]!.n);
}

/**
 * Pre-inserts `count` records of `kind`, ANALYZE + CHECKPOINT, then times from spawning the worker until the
 * database shows all done (polled every 10 ms), sampling the process's RSS as it goes. A run still going at
 * `capSeconds` is stopped and rated by what the database shows finished.
 */
export async function drainOnce(
  ctx: BenchContext,
  system: System,
  kind: string,
  count: number,
  concurrency: number,
  capSeconds: number,
): Promise<DrainRun> {
  const db = await freshDatabase(ctx.server, `${system.peer}_${system.config}_${kind}`, system.migratedByBench);
  try {
    await system.prepare(db, [{ kind, count }], concurrency);
    await settle(db);
    const commitsBefore = await commits(db);
    const machineBefore = await machineJiffies();
    const run = system.start(db, {
      concurrency,
      logTo: `${ctx.logDir}/${`${system.peer}-${system.config}`.replace(/[^\w.-]+/g, '_')}-${kind}-c${concurrency}.log`,
    });
    let peakRssMiB = 0;
    let lastRss = 0;
    let exitedEarly = false;
    void run.exited.then(() => (exitedEarly = true));
    const deadline = run.spawnedAt + capSeconds * 1000;
    let doneAt: number | undefined;
    for (;;) {
      if (await system.allDone(db)) {
        doneAt = wallNow();
        break;
      }
      const now = wallNow();
      if (now - lastRss > 50) {
        peakRssMiB = Math.max(peakRssMiB, await rssMiB(run.pid));
        lastRss = now;
      }
      if (now > deadline) break;
      if (exitedEarly) throw new Error(`${system.peer} ${system.config}: the worker exited before finishing`);
      await sleep(10);
    }
    const end = doneAt ?? wallNow();
    const finished = doneAt ? count : await system.finished(db, count);
    peakRssMiB = Math.max(peakRssMiB, await rssMiB(run.pid));
    const workerCpuS = await cpuSeconds(run.pid);
    const machineAfter = await machineJiffies();
    const report = await run.stop();
    await sleep(1_100); // sessions report their statistics at most once a second
    const commitsDuring = (await commits(db)) - commitsBefore;
    if (report.maxRssKiB) peakRssMiB = Math.max(peakRssMiB, report.maxRssKiB / 1024);
    if (system.peer === 'ours') await checkOurs(db, count, !doneAt);
    else if (doneAt && report.handled !== undefined && report.handled !== count)
      throw new Error(`${system.peer} ${system.config}: ran ${report.handled} handlers for ${count} jobs`);
    const first = run.messages.find((m) => m.type === 'first')?.t ?? NaN;
    return {
      rate: finished / ((end - run.spawnedAt) / 1000),
      rateAfterFirst: (finished - 1) / ((end - first) / 1000),
      startupMs: first - run.spawnedAt,
      peakRssMiB,
      capped: !doneAt,
      commitsPerRecord: commitsDuring / finished,
      workerCpuS,
      machineBusy: (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total),
    };
  } finally {
    await db.drop();
  }
}

/** Every record succeeded, with exactly one attempt in the ledger: nothing ran twice. */
async function checkOurs(db: { pool: import('pg').Pool }, count: number, partial: boolean): Promise<void> {
  const { rows } = await db.pool.query<{ succeeded: number; attempts: number; twice: number }>(
    `SELECT (SELECT count(*)::int FROM failed_records WHERE status = 'succeeded') AS succeeded,
            (SELECT count(*)::int FROM failed_record_attempts WHERE outcome IS DISTINCT FROM 'skipped') AS attempts,
            (SELECT count(*)::int FROM (SELECT record_id FROM failed_record_attempts WHERE outcome IS DISTINCT FROM 'skipped' GROUP BY record_id HAVING count(*) > 1) t) AS twice`,
  );
  const r = rows[0]!;
  if (r.twice > 0 || (!partial && (r.succeeded !== count || r.attempts !== count))) {
    throw new Error(
      `ours: expected ${count} records succeeded once each; got ${r.succeeded} succeeded, ${r.attempts} attempts, ${r.twice} run twice`,
    );
  }
}

/** drain / io: `reps` runs per system, interleaved system by system within each repetition. */
export async function throughput(
  ctx: BenchContext,
  workload: string,
  systems: System[],
  kind: string,
  count: number,
  concurrency: number,
): Promise<Measurement[]> {
  const byKey = new Map<System, DrainRun[]>();
  for (let rep = 0; rep < ctx.reps; rep++) {
    for (const system of systems) {
      const capSeconds =
        system.peer === 'pg-boss' && (system.config === 'default' || system.config === 'minpoll') ? 10 : 180;
      const run = await drainOnce(ctx, system, kind, count, concurrency, capSeconds);
      ctx.log(
        `${workload} c=${concurrency} ${system.peer} ${system.config} rep ${rep + 1}: ${Math.round(run.rate)} records/s (${Math.round(run.rateAfterFirst)} after the first; start-up ${Math.round(run.startupMs)} ms; peak RSS ${run.peakRssMiB.toFixed(0)} MiB; ${run.commitsPerRecord.toFixed(2)} commits/record; worker CPU ${run.workerCpuS.toFixed(2)} s; machine ${Math.round(run.machineBusy * 100)} % busy${run.capped ? '; capped' : ''})`,
      );
      byKey.set(system, [...(byKey.get(system) ?? []), run]);
    }
  }
  return systems.map((system) => {
    const runs = byKey.get(system)!;
    return {
      workload,
      metric: 'records/s',
      peer: system.peer,
      config: system.config,
      concurrency: system.concurrencyLabel(concurrency),
      runs: runs.map((r) => r.rate),
      higherIsBetter: true,
      key: `${workload} c=${concurrency}`,
      ...(runs.some((r) => r.capped) ? { note: 'stopped at 10 s; rated by jobs done' } : {}),
      extra: {
        rateAfterFirst: runs.map((r) => r.rateAfterFirst),
        startupMs: runs.map((r) => r.startupMs),
        peakRssMiB: runs.map((r) => r.peakRssMiB),
        commitsPerRecord: runs.map((r) => r.commitsPerRecord),
        workerCpuS: runs.map((r) => r.workerCpuS),
        machineBusy: runs.map((r) => r.machineBusy),
      },
    };
  });
}
