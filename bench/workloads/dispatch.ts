import { freshDatabase, settle } from '../bench-postgres.js';
import { sleep, wallNow } from '../stats.js';
import type { Running, System } from '../systems.js';
import type { BenchContext, Measurement } from './context.js';

/** Handlers that wait 20 ms on a timer: I/O-bound work, where more replicas should mean more throughput. */
const KIND = 'io20';

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
 * replica to the database showing every record done, at CONCURRENCY `concurrency` per replica.
 */
export async function dispatchThroughput(
  ctx: BenchContext,
  us: System,
  amqpUrl: string,
  count: number,
  concurrency: number,
): Promise<Measurement[]> {
  const measurements: Measurement[] = [];
  for (const layout of LAYOUTS) {
    const runs: number[] = [];
    for (let rep = 0; rep < ctx.reps; rep++) runs.push(await drain(ctx, us, layout, amqpUrl, count, concurrency));
    const config = `${layout.mode}, ${layout.replicas} replica${layout.replicas > 1 ? 's' : ''}`;
    ctx.log(`dispatch: ${config}: ${runs.map((r) => r.toFixed(0)).join(', ')} records/s`);
    measurements.push({
      workload: 'dispatch',
      metric: `records/s (${KIND})`,
      peer: 'ours',
      config,
      concurrency: `${concurrency} per replica`,
      runs,
      higherIsBetter: true,
      key: `dispatch ${config}`,
    });
  }
  return measurements;
}

async function drain(
  ctx: BenchContext,
  us: System,
  layout: Layout,
  amqpUrl: string,
  count: number,
  concurrency: number,
): Promise<number> {
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
    const deadline = wallNow() + 120_000;
    while (!(await us.allDone(db))) {
      if (wallNow() > deadline) throw new Error(`dispatch bench: ${layout.mode} ${layout.replicas}: not done in 120 s`);
      if (runs.some((r) => !r.alive)) throw new Error(`dispatch bench: a replica exited before the end`);
      await sleep(5);
    }
    const doneAt = wallNow();
    const first = Math.min(...runs.map((r) => r.messages.find((m) => m.type === 'first')?.t ?? Number.NaN));
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM failed_records WHERE status = 'succeeded' AND attempts = 1`,
    );
    if (rows[0]!.n !== count) throw new Error(`dispatch bench: ${rows[0]!.n} of ${count} records succeeded once`);
    return count / ((doneAt - first) / 1000);
  } finally {
    await Promise.all(runs.map((r) => r.stop()));
    await db.drop();
  }
}
