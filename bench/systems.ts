import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { BenchDatabase } from './bench-postgres.js';
import type { HandlerMessage } from './handler-report.js';
import { OUR_CLI, OUR_HANDLERS, PEER_CHILD, PEER_NODE } from './paths.js';
import type { PeerChildArgs } from './peer-child.js';
import { sleep, wallNow } from './stats.js';

export type Peer = 'ours' | 'graphile-worker' | 'pg-boss';

/** A system under test in one configuration. */
export interface System {
  peer: Peer;
  config: string;
  /** How many executions it runs at once (for pg-boss `tuned`, the in-flight bound instead). */
  concurrencyLabel: (c: number) => string;
  /** The bench applies our migrations to each fresh database before prepare() (ours, but a compare build). */
  migratedByBench: boolean;
  /** Installs the schema (ours: already migrated, a compare build: its own) and enqueues jobs in bulk. */
  prepare(db: BenchDatabase, jobs: { kind: string; count: number }[], concurrency: number): Promise<void>;
  start(db: BenchDatabase, options: StartOptions): Running;
  /**
   * Wall-clock ms at which the run became ready to execute: ours, its `leading` line (from the log file, or
   * the piped lines); a peer, its report that run()/start() resolved.
   */
  readyAt(run: Running, logTo: string | 'pipe'): Promise<number>;
  /** True once the database shows no job left to do. */
  allDone(db: BenchDatabase): Promise<boolean>;
  /** Jobs the database shows finished (for runs stopped at a time cap). */
  finished(db: BenchDatabase, enqueued: number): Promise<number>;
}

export interface StartOptions {
  concurrency: number;
  reportEvery?: number;
  /** Peers only: enqueue probe jobs from inside the peer's process (latency). */
  trickle?: { count: number; intervalMs: number };
  /** Ours: extra environment (LEASE_TTL_SECONDS, REPLICA_ID…). */
  env?: Record<string, string>;
  /** Where stdout/stderr go; 'pipe' keeps JSON log lines in `logs`. */
  logTo: string | 'pipe';
}

export interface Running {
  readonly pid: number;
  /** Wall-clock ms just before the process was spawned. */
  readonly spawnedAt: number;
  readonly messages: HandlerMessage[];
  readonly logs: { msg: string; time: number; [k: string]: unknown }[];
  onMessage(listener: (m: HandlerMessage) => void): void;
  /** Graceful stop (ours: SIGTERM; peers: their stop()); resolves with what the process reported. */
  stop(timeoutMs?: number): Promise<{ handled?: number; maxRssKiB?: number }>;
  kill(): Promise<void>;
  signal(sig: NodeJS.Signals): void;
  readonly alive: boolean;
  /** Resolves with the exit code (null after a signal). */
  readonly exited: Promise<number | null>;
}

function parseLogLine(line: string): Running['logs'] {
  if (!line.startsWith('{')) return [];
  try {
    return [JSON.parse(line) as Running['logs'][number]];
  } catch {
    return [];
  }
}

async function readLogFile(path: string): Promise<Running['logs']> {
  return (await readFile(path, 'utf8')).split('\n').flatMap(parseLogLine);
}

/** The resident set of a live process, in MiB (from /proc). */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kib / 1024;
}

function launch(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logTo: string | 'pipe',
  gracefulStop: (child: ChildProcess) => void,
): Running {
  const fd = logTo === 'pipe' ? undefined : openSync(logTo, 'a');
  const spawnedAt = wallNow();
  const child = spawn(command, args, { env, stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe', 'ipc'] });
  if (fd !== undefined) closeSync(fd);
  const messages: HandlerMessage[] = [];
  const logs: Running['logs'] = [];
  const listeners: ((m: HandlerMessage) => void)[] = [];
  let report: { handled?: number; maxRssKiB?: number } = {};
  child.on('message', (m: HandlerMessage) => {
    if (m.type === 'stopped') report = { handled: m.handled, maxRssKiB: m.maxRssKiB };
    else messages.push(m);
    for (const l of listeners) l(m);
  });
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      logs.push(...parseLogLine(line));
    });
  }
  child.stderr?.on('data', (d: Buffer) =>
    process.stderr.write(`[${args[0]?.split('/').pop()} ${child.pid}] ${d.toString()}`),
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    pid: child.pid!,
    spawnedAt,
    messages,
    logs,
    onMessage: (l) => listeners.push(l),
    exited,
    stop: async (timeoutMs = 20_000) => {
      if (alive()) gracefulStop(child);
      const timedOut = await Promise.race([exited.then(() => false), sleep(timeoutMs).then(() => true)]);
      if (timedOut) {
        process.stderr.write(`bench: pid ${child.pid} did not stop within ${timeoutMs} ms; killing it\n`);
        if (alive()) child.kill('SIGKILL');
        await exited;
      }
      return report;
    },
    kill: async () => {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
    signal: (sig) => {
      if (alive()) child.kill(sig);
    },
    get alive() {
      return alive();
    },
  };
}

/** CPU seconds (user + system) a live process has used so far (from /proc; clock ticks of 10 ms). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Busy and total jiffies of the whole machine (from /proc/stat), to report how busy it was during a run. */
export async function machineJiffies(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

let electionSerial = 0;

/**
 * Our CLI as users run it: `retry-worker start` with a HANDLERS_MODULE, elected through etcd. With `build`
 * (another checkout's root, built), that checkout's CLI instead, labelled `compare` and compared with ours:
 * an A/B of a change in one run, its runs interleaved with ours. Its own `migrate` runs on each database.
 */
export function ours(etcdEndpoints: string, baseEnv: Record<string, string> = {}, build?: string): System {
  const cli = build ? `${build.replace(/\/$/, '')}/dist/src/cli.js` : OUR_CLI;
  const settings = Object.keys(baseEnv).length
    ? Object.entries(baseEnv)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
    : 'default';
  return {
    peer: 'ours',
    config: build ? `compare ${settings}` : settings,
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
        [...(process.env.BENCH_OURS_NODE_ARGS?.split(' ').filter(Boolean) ?? []), cli, 'start'],
        {
          PATH: process.env.PATH ?? '',
          DATABASE_URL: db.url,
          ETCD_ENDPOINTS: etcdEndpoints,
          ELECTION_NAME: `bench-${db.name}-${++electionSerial}`,
          CONCURRENCY: String(o.concurrency),
          HANDLERS_MODULE: OUR_HANDLERS,
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
      return lines.find((l) => l.time >= run.spawnedAt - 1 && l.msg.startsWith('leading'))?.time ?? NaN;
    },
    allDone: async (db) =>
      (
        await db.pool.query<{ done: boolean }>(
          `SELECT NOT EXISTS (SELECT 1 FROM failed_records WHERE status = 'pending') AS done`,
        )
      ).rows[0]!.done,
    finished: async (db) =>
      (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM failed_records WHERE status <> 'pending'`))
        .rows[0]!.n,
  };
}

function peerArgs(
  peer: 'graphile-worker' | 'pg-boss',
  config: string,
  db: BenchDatabase,
  rest: Partial<PeerChildArgs>,
): string {
  return JSON.stringify({ peer, config, url: db.url, concurrency: 10, mode: 'run', ...rest } satisfies PeerChildArgs);
}

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
    readyAt: async (run) => {
      const ready = run.messages.find((m) => m.type === 'ready');
      return ready && 't' in ready ? ready.t : NaN;
    },
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
