import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freshDatabase, settle } from '../bench-postgres.js';
import { sleep, spread, wallNow } from '../stats.js';
import {
  childCpuSeconds,
  cpuSeconds,
  machineJiffies,
  postmasterPid,
  type Running,
  type System,
  serverCpuBetween,
} from '../systems.js';
import type { BenchContext, Measurement } from './context.js';

/** Handlers that wait 20 ms on a timer: I/O-bound work, where more replicas should mean more throughput. */
const KIND = 'io20';

/**
 * How often the bench asks Postgres whether every record is done. Each question is a statement on the same two
 * cores as the system measured: every 5 ms, they were about a fifth of the Postgres CPU counted per record on
 * one replica. The end time is read from the records themselves, so this sets only how late the CPU readings
 * are taken.
 */
const DONE_POLL_MS = 50;

interface Layout {
  mode: 'leader' | 'dispatch';
  replicas: number;
}

const LAYOUTS: Layout[] = [
  { mode: 'leader', replicas: 1 },
  { mode: 'dispatch', replicas: 1 },
  { mode: 'dispatch', replicas: 2 },
  { mode: 'dispatch', replicas: 3 },
];

/**
 * Dispatch mode beside leader mode, on the same settings: `count` io20 records drained by 1, 2 and 3 replica
 * processes in dispatch mode (RabbitMQ on 127.0.0.1:5672, a vhost of the run's own), and by leader mode's
 * replicas (only the leader executes, so one). Records per second from the first handler start on any
 * replica to the last record's completion (its finished_at), at CONCURRENCY `concurrency` per replica. `only` names the
 * layouts to run: `leader`, and dispatch mode's numbers of replicas.
 */
export async function dispatchThroughput(
  ctx: BenchContext,
  us: System,
  amqpUrl: string,
  count: number,
  concurrency: number,
  only: readonly string[],
): Promise<Measurement[]> {
  const named = (l: Layout) => (l.mode === 'leader' ? 'leader' : String(l.replicas));
  const unknown = only.filter((name) => !LAYOUTS.some((l) => named(l) === name));
  if (unknown.length > 0) throw new Error(`--layouts: unknown ${unknown.join(', ')} (expected leader, 1, 2 or 3)`);
  const measurements: Measurement[] = [];
  const broker = await brokerPid();
  for (const layout of LAYOUTS.filter((l) => only.includes(named(l)))) {
    const runs: DispatchRun[] = [];
    for (let rep = 0; rep < ctx.reps; rep++)
      runs.push(await drain(ctx, us, layout, amqpUrl, count, concurrency, broker));
    const config = `${layout.mode}, ${layout.replicas} replica${layout.replicas > 1 ? 's' : ''}`;
    const perRecord = (s: number) => ((s * 1e6) / count).toFixed(0);
    const cpu = runs.map((r) => [r.replicasCpuS, r.serverCpuS, r.brokerCpuS].map(perRecord).join(' + '));
    ctx.log(
      `dispatch: ${config}: ${runs.map((r) => r.rate.toFixed(0)).join(', ')} records/s; ` +
        `CPU µs/record (replicas + Postgres + RabbitMQ): ${cpu.join(', ')}`,
    );
    const base = { workload: 'dispatch', peer: 'ours', config, concurrency: `${concurrency} per replica` };
    const busy = `machine ${Math.round(spread(runs.map((r) => r.machineBusy)).median * 100)} % busy`;
    measurements.push(
      {
        ...base,
        metric: `records/s (${KIND})`,
        runs: runs.map((r) => r.rate),
        higherIsBetter: true,
        note: busy,
        key: `dispatch ${config}`,
      },
      ...(['replicas', 'server', 'broker'] as const).map((who) => ({
        ...base,
        metric: `${CPU_OF[who]} CPU µs per record`,
        runs: runs.map((r) => (r[`${who}CpuS`] * 1e6) / count),
        higherIsBetter: false,
        key: `dispatch ${config} ${who} cpu`,
      })),
    );
  }
  return measurements;
}

const CPU_OF = { replicas: 'replicas’', server: 'Postgres', broker: 'RabbitMQ' } as const;

interface DispatchRun {
  rate: number;
  /** CPU seconds from the first handler start to the last record done: every replica, Postgres, RabbitMQ. */
  replicasCpuS: number;
  serverCpuS: number;
  brokerCpuS: number;
  /** The share of the whole machine's CPU time that was busy meanwhile. */
  machineBusy: number;
}

/** The OS PID of the RabbitMQ node at 127.0.0.1:5672 (its figures are read from /proc), or undefined. */
async function brokerPid(): Promise<number | undefined> {
  const { stdout } = await promisify(execFile)(process.env.RABBITMQCTL_BIN ?? 'rabbitmqctl', [
    'eval',
    'os:getpid().',
  ]).catch(() => ({ stdout: '' }));
  const pid = Number(stdout.replace(/\D/g, ''));
  return pid > 0 ? pid : undefined;
}

/** CPU seconds used so far by the replicas, the Postgres server and the broker, and the machine's jiffies. */
async function cpuNow(runs: readonly Running[], postmaster: number, broker: number | undefined) {
  const [replicas, server, brokerS, machine] = await Promise.all([
    Promise.all(runs.map((r) => cpuSeconds(r.pid))).then((xs) => xs.reduce((a, b) => a + b, 0)),
    childCpuSeconds(postmaster),
    broker === undefined ? Number.NaN : cpuSeconds(broker),
    machineJiffies(),
  ]);
  return { replicas, server, broker: brokerS, machine };
}

async function drain(
  ctx: BenchContext,
  us: System,
  layout: Layout,
  amqpUrl: string,
  count: number,
  concurrency: number,
  broker: number | undefined,
): Promise<DispatchRun> {
  const db = await freshDatabase(ctx.server, `ours_${layout.mode}_${layout.replicas}`, true);
  const runs: Running[] = [];
  try {
    await us.prepare(db, [{ kind: KIND, count }], concurrency);
    await settle(db);
    const env = {
      ELECTION_NAME: `bench-${db.name}`,
      ...(layout.mode === 'dispatch' ? { EXECUTION_MODE: 'dispatch', AMQP_URL: amqpUrl } : {}),
    };
    for (let i = 0; i < layout.replicas; i++) {
      const logTo = `${ctx.logDir}/ours-${layout.mode}-${layout.replicas}-r${i + 1}.log`;
      runs.push(us.start(db, { concurrency, logTo, env: { ...env, REPLICA_ID: `r${i + 1}` } }));
    }
    const postmaster = await postmasterPid(db);
    let atFirst: ReturnType<typeof cpuNow> | undefined;
    for (const run of runs) run.onMessage((m) => m.type === 'first' && (atFirst ??= cpuNow(runs, postmaster, broker)));
    const deadline = wallNow() + 120_000;
    while (!(await us.allDone(db))) {
      if (wallNow() > deadline) throw new Error(`dispatch bench: ${layout.mode} ${layout.replicas}: not done in 120 s`);
      if (runs.some((r) => !r.alive)) throw new Error(`dispatch bench: a replica exited before the end`);
      await sleep(DONE_POLL_MS);
    }
    const [before, after] = [await atFirst, await cpuNow(runs, postmaster, broker)];
    if (!before) throw new Error('dispatch bench: no replica reported its first handler start');
    const first = Math.min(...runs.map((r) => r.messages.find((m) => m.type === 'first')?.t ?? Number.NaN));
    // The end is the last record's own finished_at (clock_timestamp() at its completion, on this host's clock),
    // not the moment the poll saw it.
    const { rows: ends } = await db.pool.query<{ t: number }>(
      `SELECT extract(epoch FROM max(finished_at))::float8 * 1000 AS t FROM failed_records`,
    );
    const doneAt = ends[0]!.t;
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM failed_records WHERE status = 'succeeded' AND attempts = 1`,
    );
    if (rows[0]!.n !== count) throw new Error(`dispatch bench: ${rows[0]!.n} of ${count} records succeeded once`);
    return {
      rate: count / ((doneAt - first) / 1000),
      replicasCpuS: after.replicas - before.replicas,
      serverCpuS: serverCpuBetween(before.server, after.server),
      brokerCpuS: after.broker - before.broker,
      machineBusy: (after.machine.busy - before.machine.busy) / (after.machine.total - before.machine.total),
    };
  } finally {
    await Promise.all(runs.map((r) => r.stop()));
    await db.drop();
  }
}
