import { spawnSync } from 'node:child_process';
import { OUR_CLI, OUR_EMBEDDED, OUR_HANDLERS } from './paths.js';
import { launch, readLogFile, type System } from './systems.js';

let electionSerial = 0;

export interface OursOptions {
  /** Settings (environment) for our replicas beside the bench's own, e.g. BATCH_SIZE=1000. */
  env?: Record<string, string>;
  /** Another checkout's root, built: its CLI instead, labelled `compare` (an A/B of a change in one run). */
  build?: string;
  /** `embedded`: createWorker() in a process of the bench's (bench/ours-embedded.ts), as a library user runs it. */
  embedded?: boolean;
}

/**
 * Our CLI as users run it: `retry-worker start` with a HANDLERS_MODULE, elected through etcd; or, `embedded`,
 * the library's createWorker() with the same handlers passed in. With `build`, that checkout's CLI: its runs
 * are interleaved with ours, and its own `migrate` runs on each database.
 */
export function ours(etcdEndpoints: string, options: OursOptions = {}): System {
  const { env: baseEnv = {}, build, embedded = false } = options;
  const cli = build ? `${build.replace(/\/$/, '')}/dist/src/cli.js` : embedded ? OUR_EMBEDDED : OUR_CLI;
  const settings = Object.keys(baseEnv).length
    ? Object.entries(baseEnv)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
    : 'default';
  return {
    peer: 'ours',
    config: build ? `compare ${settings}` : embedded ? `embedded, ${settings}` : settings,
    concurrencyLabel: (c) => String(c),
    migratedByBench: !build,
    prepare: async (db, jobs) => {
      if (build) {
        const migrated = spawnSync(process.execPath, [cli, 'migrate'], {
          env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url, LOG_LEVEL: 'warn' },
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        if (migrated.status !== 0) throw new Error(`compare build ${build}: migrate failed (exit ${migrated.status})`);
      }
      for (const { kind, count } of jobs) {
        await db.pool.query(
          `INSERT INTO failed_records (kind, payload) SELECT $1, '{}'::jsonb FROM generate_series(1, $2)`,
          [kind, count],
        );
      }
    },
    start: (db, o) =>
      launch(
        process.execPath,
        // BENCH_OURS_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to profile our replicas.
        [...(process.env.BENCH_OURS_NODE_ARGS?.split(' ').filter(Boolean) ?? []), cli, ...(embedded ? [] : ['start'])],
        {
          PATH: process.env.PATH ?? '',
          DATABASE_URL: db.url,
          ETCD_ENDPOINTS: etcdEndpoints,
          ELECTION_NAME: `bench-${db.name}-${++electionSerial}`,
          CONCURRENCY: String(o.concurrency),
          ...(embedded ? {} : { HANDLERS_MODULE: OUR_HANDLERS }),
          LOG_LEVEL: 'info',
          BENCH_REPORT_EVERY: String(o.reportEvery ?? 0),
          ...baseEnv,
          ...o.env,
        },
        o.logTo,
        (child) => child.kill('SIGTERM'),
      ),
    readyAt: async (run, logTo) => {
      const lines = logTo === 'pipe' ? run.logs : await readLogFile(logTo);
      // The first line that says the replica leads, written after this run was spawned (the file is appended to).
      return lines.find((l) => l.time >= run.spawnedAt - 1 && l.msg.startsWith('leading'))?.time ?? NaN;
    },
    allDone: async (db) =>
      (
        await db.pool.query<{ done: boolean }>(
          // By the claim's index (pending rows only): a sequential scan read every finished row at each 5 ms
          // poll, 0.5-1.7 ms of Postgres CPU each time, counted as ours.
          `SELECT count(*) = 0 AS done FROM (SELECT 1 FROM failed_records WHERE status = 'pending'
           ORDER BY kind, priority, next_run_at, id LIMIT 1) r`,
        )
      ).rows[0]!.done,
    finished: async (db, _enqueued, kind) =>
      (
        await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM failed_records WHERE status <> 'pending' AND ($1::text IS NULL OR kind = $1)`,
          [kind ?? null],
        )
      ).rows[0]!.n,
  };
}
