import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { BenchDatabase } from './bench-postgres.js';
import type { HandlerMessage } from './handler-report.js';
import { undoOnInterrupt } from './interrupt.js';
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
  /** Jobs (of `kind`, where the system can tell) the database shows finished (for runs stopped at a time cap). */
  finished(db: BenchDatabase, enqueued: number, kind?: string): Promise<number>;
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

export async function readLogFile(path: string): Promise<Running['logs']> {
  return (await readFile(path, 'utf8')).split('\n').flatMap(parseLogLine);
}

/** The resident set of a live process, in MiB (from /proc). */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kib / 1024;
}

export function launch(
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
  const forget = undoOnInterrupt(`pid ${child.pid}`, async () => {
    if (alive()) child.kill('SIGKILL');
    await exited;
  });
  void exited.then(forget);
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

/** The PID of the server's postmaster: the parent of this connection's backend. */
export async function postmasterPid(db: BenchDatabase): Promise<number> {
  const { rows } = await db.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const stat = await readFile(`/proc/${rows[0]!.pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** CPU seconds (user + system) a live process has used so far (from /proc; clock ticks of 10 ms). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU seconds used so far by each child of `parent`, by PID (from /proc). For a Postgres server's postmaster:
 * its backends and background processes; a backend that exits takes its figure with it, so read them while the
 * run's connections are open.
 */
export async function childCpuSeconds(parent: number): Promise<Map<number, number>> {
  const byPid = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === parent) byPid.set(Number(entry), (Number(fields[11]) + Number(fields[12])) / 100);
  }
  return byPid;
}

/** CPU seconds Postgres's processes used between two childCpuSeconds() readings of its postmaster. */
export function serverCpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/** Busy and total jiffies of the whole machine (from /proc/stat), to report how busy it was during a run. */
export async function machineJiffies(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}
