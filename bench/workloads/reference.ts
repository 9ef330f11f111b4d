import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freshDatabase } from '../bench-postgres.js';
import { TIMER_CEILING } from '../paths.js';
import type { BenchContext, Measurement } from './context.js';

const run = promisify(execFile);

// The table of research/peer-bench.md: history rows first (so the planner prefers the partial index), then pending.
const SCHEMA = `
  CREATE TABLE failed_records (
    id bigserial PRIMARY KEY, status text NOT NULL, attempts int NOT NULL DEFAULT 0,
    payload jsonb NOT NULL DEFAULT '{}', last_error text, locked_by text, locked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
  CREATE INDEX failed_records_pending ON failed_records (id) WHERE status = 'pending';
  INSERT INTO failed_records (status) SELECT 'done' FROM generate_series(1, $HISTORY);
  INSERT INTO failed_records (status) SELECT 'pending' FROM generate_series(1, $PENDING);`;

const SCRIPTS = {
  claim1:
    `UPDATE failed_records SET status = 'done', attempts = attempts + 1, updated_at = now()` +
    ` WHERE id = (SELECT id FROM failed_records WHERE status = 'pending'` +
    ` ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED);\n`,
  claim100:
    `UPDATE failed_records SET status = 'done', attempts = attempts + 1, updated_at = now()` +
    ` WHERE id IN (SELECT id FROM failed_records WHERE status = 'pending'` +
    ` ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED);\n`,
};

/**
 * pgbench claim-and-complete of 1 and of 100 rows per statement, 10 clients, 2 threads, prepared, `seconds` each
 * (the drain's limit); then the io workload's: 50 timers of 5 ms at a time in a bare Node process.
 */
export async function reference(ctx: BenchContext, seconds: number): Promise<Measurement[]> {
  return [...(await pgbench(ctx, seconds)), await timerCeiling(ctx, seconds)];
}

/** The io workload's handlers with nothing around them (bench/timer-ceiling.ts), on our Node, `seconds` a run. */
async function timerCeiling(ctx: BenchContext, seconds: number): Promise<Measurement> {
  const runs: number[] = [];
  for (let rep = 0; rep < ctx.reps; rep++) {
    const { stdout } = await run(process.execPath, [TIMER_CEILING, String(Math.min(seconds, 5)), '50', '5']);
    runs.push(JSON.parse(stdout).perSecond);
    ctx.log(`reference node 50 × 5 ms timers rep ${rep + 1}: ${Math.round(runs.at(-1)!)} timers/s`);
  }
  return {
    workload: 'reference',
    metric: 'records/s',
    peer: 'node',
    config: 'io ceiling: 50 × a 5 ms timer, nothing else',
    concurrency: '50',
    runs,
    higherIsBetter: true,
  };
}

async function pgbench(ctx: BenchContext, seconds: number): Promise<Measurement[]> {
  const db = await freshDatabase(ctx.server, 'pgbench_reference', false);
  const dir = await mkdtemp(join(tmpdir(), 'rw-pgbench-'));
  const rows: Record<keyof typeof SCRIPTS, number[]> = { claim1: [], claim100: [] };
  try {
    await db.pool.query(SCHEMA.replace('$HISTORY', '1000000').replace('$PENDING', '2000000'));
    await db.pool.query('VACUUM ANALYZE failed_records');
    await db.pool.query('CHECKPOINT').catch(() => undefined);
    const u = new URL(db.url);
    const env = {
      ...process.env,
      PGHOST: u.hostname,
      PGPORT: u.port || '5432',
      PGUSER: decodeURIComponent(u.username),
      PGPASSWORD: decodeURIComponent(u.password),
      PGDATABASE: u.pathname.slice(1),
    };
    for (const [name, sql] of Object.entries(SCRIPTS)) await writeFile(join(dir, `${name}.sql`), sql);
    for (let rep = 0; rep < ctx.reps; rep++) {
      for (const name of Object.keys(SCRIPTS) as (keyof typeof SCRIPTS)[]) {
        // Each run claims up to about a million rows: top the pending rows up to 2M so no run can drain them
        // (an empty queue makes each statement a no-op and its TPS meaningless).
        const {
          rows: [left],
        } = await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM failed_records WHERE status = 'pending'`,
        );
        if (left!.n < 2_000_000)
          await db.pool.query(`INSERT INTO failed_records (status) SELECT 'pending' FROM generate_series(1, $1::int)`, [
            2_000_000 - left!.n,
          ]);
        // Each run leaves dead index entries at the head of the pending index, which later claims would walk over.
        await db.pool.query('VACUUM ANALYZE failed_records');
        const { stdout } = await run(
          'pgbench',
          ['-n', '-M', 'prepared', '-c', '10', '-j', '2', '-T', String(seconds), '-f', join(dir, `${name}.sql`)],
          { env },
        );
        const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? NaN);
        rows[name].push(tps * (name === 'claim100' ? 100 : 1));
        ctx.log(
          `reference pgbench ${name} rep ${rep + 1}: ${Math.round(tps)} TPS, ${Math.round(rows[name].at(-1)!)} rows/s`,
        );
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await db.drop();
  }
  const base = {
    workload: 'reference',
    metric: 'rows/s',
    peer: 'pgbench',
    concurrency: '10 clients',
    higherIsBetter: true,
  };
  return [
    { ...base, config: 'claim+complete 1 row per statement', runs: rows.claim1 },
    { ...base, config: 'claim+complete 100 rows per statement', runs: rows.claim100 },
  ];
}
