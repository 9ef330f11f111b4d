import { type BenchDatabase, freshDatabase, settle } from '../bench-postgres.js';
import { sleep, spread, wallNow } from '../stats.js';
import {
  childCpuSeconds,
  cpuSeconds,
  machineJiffies,
  postmasterPid,
  rssMiB,
  type System,
  serverCpuBetween,
} from '../systems.js';
import type { BenchContext, Measurement } from './context.js';

export interface DrainRun {
  /** Steady state: records per second from the first handler start to the database showing every record done. */
  rate: number;
  /** Spawn-timed: records per second from spawning the process to done (start-up included). */
  spawnRate: number;
  /** Start-up: from spawning the process to ready to execute (ours: leading; peers: run()/start() resolved). */
  readyMs: number;
  /** Start-up: from spawning the process to the first handler start. */
  firstMs: number;
  peakRssMiB: number;
  capped: boolean;
  /** Transactions committed in the database while it ran, per record done (the bench's own polls included). */
  commitsPerRecord: number;
  /** CPU seconds Postgres's processes used from the first handler start to done. */
  serverCpuS: number;
  /** Records done (all of them, unless capped). */
  records: number;
  /** CPU seconds the worker process used (start-up included). */
  workerCpuS: number;
  /** CPU seconds the worker process used from its first handler start to done (start-up left out). */
  steadyCpuS: number;
  /** Share of the machine's CPU time that was busy during the run (everything on it, the bench included). */
  machineBusy: number;
  /** What the workload's `DrainExtras.atDone` read when the database showed every record done. */
  extra: Record<string, number>;
}

/** What a workload adds to a drain (retention: old finished rows to prune, and how many went during it). */
export interface DrainExtras {
  /** Before the system's own prepare (so these rows get the lower ids): more rows in the database. */
  seed?(db: BenchDatabase, count: number): Promise<void>;
  /** Read when the database shows every record done (or at the cap), before the worker stops. */
  atDone?(db: BenchDatabase): Promise<Record<string, number>>;
  /**
   * The records are inserted in bulk only once the worker is ready, into tables analyzed while empty: a new
   * deployment's first burst, met with the planner's statistics of an empty table (until autovacuum
   * analyzes it again).
   */
  burst?: boolean;
}

async function commits(db: BenchDatabase): Promise<number> {
  await db.pool.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await db.pool.query<{ n: string }>(
    'SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()',
  );
  return Number(rows[0]!.n);
}

/**
 * Pre-inserts `count` records of `kind`, ANALYZE + CHECKPOINT, spawns the worker and waits until the database
 * shows all done (polled every 5 ms), sampling the process's RSS as it goes. The rate is timed from the first
 * handler start to done: steady state, start-up left out (reported on its own). A run still going at
 * `capSeconds` is stopped and rated by what the database shows finished.
 */
async function drainOnce(
  ctx: BenchContext,
  system: System,
  kind: string,
  count: number,
  concurrency: number,
  capSeconds: number,
  extras: DrainExtras = {},
): Promise<DrainRun> {
  const db = await freshDatabase(ctx.server, `${system.peer}_${system.config}_${kind}`, system.migratedByBench);
  try {
    await extras.seed?.(db, count);
    await system.prepare(db, extras.burst ? [] : [{ kind, count }], concurrency);
    await settle(db);
    const commitsBefore = await commits(db);
    const machineBefore = await machineJiffies();
    const logName = `${system.peer}-${system.config}`.replace(/[^\w.-]+/g, '_');
    const logTo = `${ctx.logDir}/${logName}-${kind}-c${concurrency}.log`;
    const run = system.start(db, { concurrency, logTo });
    const postmaster = await postmasterPid(db);
    let cpuAtFirst: Promise<number> | undefined;
    let serverAtFirst: Promise<Map<number, number>> | undefined;
    run.onMessage((m) => {
      if (m.type !== 'first') return;
      cpuAtFirst ??= cpuSeconds(run.pid);
      serverAtFirst ??= childCpuSeconds(postmaster);
    });
    let exitedEarly = false;
    void run.exited.then(() => (exitedEarly = true));
    if (extras.burst) {
      const readyBy = wallNow() + 30_000;
      while (!Number.isFinite(await system.readyAt(run, logTo))) {
        if (exitedEarly || wallNow() > readyBy) throw new Error(`${system.peer} ${system.config}: never ready`);
        await sleep(20);
      }
      await system.prepare(db, [{ kind, count }], concurrency);
    }
    let peakRssMiB = 0;
    let lastRss = 0;
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
      await sleep(5);
    }
    const end = doneAt ?? wallNow();
    const extra = (await extras.atDone?.(db)) ?? {};
    const serverCpuS = serverCpuBetween((await serverAtFirst) ?? new Map(), await childCpuSeconds(postmaster));
    const finished = doneAt ? count : await system.finished(db, count, kind);
    peakRssMiB = Math.max(peakRssMiB, await rssMiB(run.pid));
    const workerCpuS = await cpuSeconds(run.pid);
    const steadyCpuS = workerCpuS - ((await cpuAtFirst) ?? NaN);
    const machineAfter = await machineJiffies();
    const report = await run.stop();
    await sleep(1_100); // sessions report their statistics at most once a second
    const commitsDuring = (await commits(db)) - commitsBefore;
    if (report.maxRssKiB) peakRssMiB = Math.max(peakRssMiB, report.maxRssKiB / 1024);
    if (system.peer === 'ours') await checkOurs(db, kind, count, !doneAt);
    else if (doneAt && report.handled !== undefined && report.handled !== count)
      throw new Error(`${system.peer} ${system.config}: ran ${report.handled} handlers for ${count} jobs`);
    const first = run.messages.find((m) => m.type === 'first')?.t ?? NaN;
    return {
      rate: finished / ((end - first) / 1000),
      spawnRate: finished / ((end - run.spawnedAt) / 1000),
      readyMs: (await system.readyAt(run, logTo)) - run.spawnedAt,
      firstMs: first - run.spawnedAt,
      peakRssMiB,
      capped: !doneAt,
      commitsPerRecord: commitsDuring / finished,
      workerCpuS,
      steadyCpuS,
      serverCpuS,
      records: finished,
      machineBusy: (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total),
      extra,
    };
  } finally {
    await db.drop();
  }
}

/**
 * Every record of `kind` succeeded, with exactly one attempt in the ledger: nothing ran twice. Rows of other
 * kinds (the retention workload's old finished records and their ledger rows) are left out.
 */
async function checkOurs(
  db: { pool: import('pg').Pool },
  kind: string,
  count: number,
  partial: boolean,
): Promise<void> {
  const { rows } = await db.pool.query<{ succeeded: number; attempts: number; twice: number }>(
    `WITH ours AS (SELECT a.record_uid FROM failed_record_attempts a
                   WHERE a.outcome IS DISTINCT FROM 'skipped'
                     AND a.record_uid IN (SELECT uid FROM failed_records WHERE kind = $1))
     SELECT (SELECT count(*)::int FROM failed_records WHERE status = 'succeeded' AND kind = $1) AS succeeded,
            (SELECT count(*)::int FROM ours) AS attempts,
            (SELECT count(*)::int
             FROM (SELECT record_uid FROM ours GROUP BY record_uid HAVING count(*) > 1) t) AS twice`,
    [kind],
  );
  const r = rows[0]!;
  if (r.twice > 0 || (!partial && (r.succeeded !== count || r.attempts !== count))) {
    throw new Error(
      `ours: expected ${count} records succeeded once each; ` +
        `got ${r.succeeded} succeeded, ${r.attempts} attempts, ${r.twice} run twice`,
    );
  }
}

/**
 * Runs cut short and rated by jobs done: pg-boss's defaults poll every 2 s for one job per worker (about C/2
 * jobs/s); graphile-worker's default fetches and completes one job per round trip.
 */
const capFor = (system: System): number =>
  system.peer === 'pg-boss' && (system.config === 'default' || system.config === 'minpoll')
    ? 10
    : system.peer === 'graphile-worker' && system.config === 'default'
      ? 20
      : 300;

/**
 * drain / io (and retention, with its `extras`): `reps` runs per system, interleaved system by system within
 * each repetition, each logged as it ends. What `extras.atDone` read is kept in the steady rate's `extra`.
 */
export async function throughput(
  ctx: BenchContext,
  workload: string,
  systems: System[],
  kind: string,
  count: number,
  concurrency: number,
  extras: DrainExtras = {},
): Promise<Measurement[]> {
  const byKey = new Map<System, DrainRun[]>();
  for (let rep = 0; rep < ctx.reps; rep++) {
    for (const system of systems) {
      const run = await drainOnce(ctx, system, kind, count, concurrency, capFor(system), extras);
      const figures = [
        `${Math.round(run.spawnRate)} spawn-timed`,
        `ready ${Math.round(run.readyMs)} ms, first execution ${Math.round(run.firstMs)} ms`,
        `peak RSS ${run.peakRssMiB.toFixed(0)} MiB`,
        `${run.commitsPerRecord.toFixed(2)} commits/record`,
        `worker CPU ${run.workerCpuS.toFixed(2)} s, ${run.steadyCpuS.toFixed(2)} s steady`,
        `Postgres CPU ${run.serverCpuS.toFixed(2)} s steady`,
        `machine ${Math.round(run.machineBusy * 100)} % busy${run.capped ? '; capped' : ''}`,
        ...Object.entries(run.extra).map(([k, v]) => `${k} ${v}`),
      ];
      ctx.log(
        `${workload} c=${concurrency} ${system.peer} ${system.config} rep ${rep + 1}: ` +
          `${Math.round(run.rate)} records/s steady (${figures.join('; ')})`,
      );
      byKey.set(system, [...(byKey.get(system) ?? []), run]);
    }
  }
  const key = `${workload} c=${concurrency}`;
  return systems.flatMap((system) => {
    const runs = byKey.get(system)!;
    const base = {
      workload,
      peer: system.peer,
      config: system.config,
      concurrency: system.concurrencyLabel(concurrency),
    };
    const steady: Measurement = {
      ...base,
      metric: 'records/s, steady (first start to last commit)',
      runs: runs.map((r) => r.rate),
      higherIsBetter: true,
      key,
      note: [
        `machine ${Math.round(spread(runs.map((r) => r.machineBusy)).median * 100)} % busy`,
        ...(runs.some((r) => r.capped) ? [`stopped at ${capFor(system)} s; rated by jobs done`] : []),
      ].join('; '),
      extra: {
        peakRssMiB: runs.map((r) => r.peakRssMiB),
        commitsPerRecord: runs.map((r) => r.commitsPerRecord),
        workerCpuS: runs.map((r) => r.workerCpuS),
        machineBusy: runs.map((r) => r.machineBusy),
        ...Object.fromEntries(Object.keys(runs[0]!.extra).map((k) => [k, runs.map((r) => r.extra[k]!)])),
      },
    };
    return [
      steady,
      {
        ...base,
        metric: 'records/s, spawn-timed (spawn to last commit)',
        runs: runs.map((r) => r.spawnRate),
        higherIsBetter: true,
        key: `${key} spawn-timed`,
      },
      {
        ...base,
        metric: 'worker CPU µs per record, steady',
        runs: runs.map((r) => (r.steadyCpuS * 1e6) / r.records),
        higherIsBetter: false,
        key: `${key} cpu`,
      },
      {
        ...base,
        metric: 'Postgres CPU µs per record, steady',
        runs: runs.map((r) => (r.serverCpuS * 1e6) / r.records),
        higherIsBetter: false,
        key: `${key} server cpu`,
      },
      {
        ...base,
        metric: 'start-up ms, spawn to ready',
        runs: runs.map((r) => r.readyMs),
        higherIsBetter: false,
        key: `${key} ready`,
      },
      {
        ...base,
        metric: 'start-up ms, spawn to first execution',
        runs: runs.map((r) => r.firstMs),
        higherIsBetter: false,
        key: `${key} first`,
      },
    ];
  });
}
