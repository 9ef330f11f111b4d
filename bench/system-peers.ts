import { mkdirSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { BenchDatabase } from './bench-postgres.js';
import { GRAPHILE_TASKS, PEER_CHILD, PEER_NODE, PEERS_DIR } from './paths.js';
import type { PeerChildArgs } from './peer-child.js';
import { launch, type Running, type System } from './systems.js';

function peerArgs(
  peer: 'graphile-worker' | 'pg-boss',
  config: string,
  db: BenchDatabase,
  rest: Partial<PeerChildArgs>,
): string {
  return JSON.stringify({ peer, config, url: db.url, concurrency: 10, mode: 'run', ...rest } satisfies PeerChildArgs);
}

function readyMessage(run: Running): number {
  const ready = run.messages.find((m) => m.type === 'ready');
  return ready && 't' in ready ? ready.t : NaN;
}

function doneQueries(peer: 'graphile-worker' | 'pg-boss'): Pick<System, 'allDone' | 'finished'> {
  return {
    allDone: async (db) => {
      const sql =
        peer === 'graphile-worker'
          ? 'SELECT NOT EXISTS (SELECT 1 FROM graphile_worker._private_jobs) AS done'
          : `SELECT NOT EXISTS (SELECT 1 FROM pgboss.job WHERE state IN ('created', 'retry', 'active')) AS done`;
      return (await db.pool.query<{ done: boolean }>(sql)).rows[0]!.done;
    },
    finished: async (db, enqueued) => {
      const sql =
        peer === 'graphile-worker'
          ? 'SELECT $1::int - count(*)::int AS n FROM graphile_worker._private_jobs'
          : `SELECT count(*)::int + 0 * $1::int AS n FROM pgboss.job WHERE state = 'completed'`;
      return (await db.pool.query<{ n: number }>(sql, [enqueued])).rows[0]!.n;
    },
  };
}

/** A peer as its users embed it: its library's run() / start() + work(), in bench/peer-child.ts. */
export function peerSystem(peer: 'graphile-worker' | 'pg-boss', config: string): System {
  return {
    peer,
    config,
    concurrencyLabel: (c) => (config === 'perfdoc' ? '24' : config === 'tuned' ? `${c}×10` : String(c)),
    migratedByBench: false,
    prepare: async (db, jobs, concurrency) => {
      const run = launch(
        PEER_NODE,
        [PEER_CHILD, peerArgs(peer, config, db, { mode: 'prepare', jobs, concurrency })],
        { PATH: process.env.PATH ?? '' },
        'pipe',
        () => undefined,
      );
      const code = await run.exited;
      if (code !== 0) throw new Error(`${peer} ${config}: preparing the database failed (exit ${code})`);
    },
    start: (db, o) =>
      launch(
        PEER_NODE,
        [
          PEER_CHILD,
          peerArgs(peer, config, db, {
            concurrency: o.concurrency,
            reportEvery: o.reportEvery ?? 0,
            ...(o.trickle ? { trickle: o.trickle } : {}),
          }),
        ],
        { PATH: process.env.PATH ?? '' },
        o.logTo,
        (child) => child.send({ type: 'stop' }),
      ),
    readyAt: async (run) => readyMessage(run),
    ...doneQueries(peer),
  };
}

/**
 * graphile-worker as its CLI users run it: `graphile-worker -C graphile.config.mjs` under Node 22, with a task
 * directory of one file per task (each re-exports bench/graphile-tasks.ts's) and the configuration's worker
 * options in the config file, written next to the run's log. It reports `ready` from its `pool:listen:success`
 * event. Drain and io only (no in-process enqueue for latency).
 */
export function graphileCli(config: string): System {
  const library = peerSystem('graphile-worker', config);
  return {
    ...library,
    config: `CLI ${config}`,
    start: (db, o) => {
      const dir = `${o.logTo === 'pipe' ? '/tmp' : o.logTo.replace(/\.log$/, '')}-graphile-cli`;
      writeCliFiles(dir, config, o.concurrency);
      return launch(
        PEER_NODE,
        [`${PEERS_DIR}node_modules/graphile-worker/dist/cli.js`, '-C', `${dir}/graphile.config.mjs`],
        { PATH: process.env.PATH ?? '', DATABASE_URL: db.url },
        o.logTo,
        (child) => child.kill('SIGTERM'),
      );
    },
  };
}

function writeCliFiles(dir: string, config: string, concurrency: number): void {
  mkdirSync(`${dir}/tasks`, { recursive: true });
  const presets = pathToFileURL(GRAPHILE_TASKS.replace(/graphile-tasks\.js$/, 'graphile-presets.js')).href;
  const tasks = pathToFileURL(GRAPHILE_TASKS).href;
  for (const task of ['noop', 'io5'])
    writeFileSync(`${dir}/tasks/${task}.mjs`, `export { ${task} as default } from '${tasks}';\n`);
  writeFileSync(
    `${dir}/graphile.config.mjs`,
    [
      `import { graphileWorkerOptions } from '${presets}';`,
      `import { readyEvents } from '${tasks}';`,
      'export default {',
      '  worker: {',
      '    connectionString: process.env.DATABASE_URL,',
      `    taskDirectory: '${dir}/tasks',`,
      '    events: readyEvents(),',
      `    ...graphileWorkerOptions('${config}', ${concurrency}),`,
      '  },',
      '};',
      '',
    ].join('\n'),
  );
}
