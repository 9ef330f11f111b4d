/**
 * One peer (graphile-worker or pg-boss) in a process of its own, run by the Node 22 binary of bench/peers.
 * argv[2] is a JSON PeerChildArgs. Modes:
 * - prepare: install the peer's schema and enqueue `jobs` in bulk, then exit;
 * - run: start a worker with the named configuration; on IPC {type:'stop'} stop it, report and exit.
 *   With `trickle`, once started it enqueues that many `probe` jobs `intervalMs` apart (the latency workload).
 * Handlers behave as bench/handlers.ts's do and report over the same IPC messages.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { graphileWorkerOptions } from './graphile-presets.js';
import { executionCounter, wallNow } from './handler-report.js';
import { PEERS_DIR } from './paths.js';

export interface PeerChildArgs {
  mode: 'prepare' | 'run';
  peer: 'graphile-worker' | 'pg-boss';
  config: string;
  url: string;
  concurrency: number;
  jobs?: { kind: string; count: number }[];
  trickle?: { count: number; intervalMs: number };
  reportEvery?: number;
}

const requirePeer = createRequire(`${PEERS_DIR}package.json`);
// biome-ignore lint/suspicious/noExplicitAny: the peers are loaded at run time from their own install, untyped here
const load = async (name: string): Promise<any> => import(pathToFileURL(requirePeer.resolve(name)).href);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Started {
  stop(): Promise<void>;
  enqueueProbe(t0: number): Promise<void>;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as PeerChildArgs;
  const count = executionCounter(args.reportEvery ?? 0);
  let handled = 0;
  const exec = async (kind: string, payload: { t0?: number } | undefined, id: string | number) => {
    handled++;
    count();
    if (kind === 'io5') await sleep(5);
    else if (kind === 'probe') process.send?.({ type: 'start', id, t: wallNow(), t0: payload?.t0 });
  };
  const peer = args.peer === 'graphile-worker' ? await graphile(args, exec) : await pgBoss(args, exec);
  if (args.mode === 'prepare') {
    await peer.stop();
    return;
  }
  process.send?.({ type: 'ready', t: wallNow() });
  const stopped = new Promise<void>((resolve) =>
    process.on('message', (m: { type?: string }) => m?.type === 'stop' && resolve()),
  );
  if (args.trickle) {
    await sleep(1_000); // idle first, as the latency workload asks
    const begin = wallNow();
    for (let i = 0; i < args.trickle.count; i++) {
      await sleep(Math.max(0, begin + i * args.trickle.intervalMs - wallNow()));
      await peer.enqueueProbe(wallNow());
    }
    process.send?.({ type: 'trickle-done', t: wallNow() });
  }
  await stopped;
  await peer.stop();
  process.send?.({ type: 'stopped', handled, maxRssKiB: process.resourceUsage().maxRSS });
}

type Exec = (kind: string, payload: { t0?: number } | undefined, id: string | number) => Promise<void>;

async function graphile(args: PeerChildArgs, exec: Exec): Promise<Started> {
  const gw = await load('graphile-worker');
  const c = args.concurrency;
  const worker = graphileWorkerOptions(args.config, c);
  const preset = { worker: { connectionString: args.url, ...worker } };
  if (args.mode === 'prepare') {
    const utils = await gw.makeWorkerUtils({ connectionString: args.url });
    await utils.migrate();
    for (const { kind, count } of args.jobs ?? []) {
      for (let done = 0; done < count; done += 10_000) {
        const n = Math.min(10_000, count - done);
        await utils.addJobs(Array.from({ length: n }, () => ({ identifier: kind, payload: {} })));
      }
    }
    return { stop: () => utils.release(), enqueueProbe: async () => undefined };
  }
  const task = (kind: string) => async (payload: { t0?: number }, helpers: { job: { id: string } }) =>
    exec(kind, payload, helpers.job.id);
  const runner = await gw.run({
    preset,
    noHandleSignals: true,
    taskList: { noop: task('noop'), io5: task('io5'), probe: task('probe') },
  });
  return {
    stop: () => runner.stop(),
    enqueueProbe: async (t0) => {
      await runner.addJob('probe', { t0 });
    },
  };
}

async function pgBoss(args: PeerChildArgs, exec: Exec): Promise<Started> {
  const { PgBoss } = await load('pg-boss');
  const c = args.concurrency;
  const configs: Record<string, { instance?: object; queue?: object; work: object }> = {
    default: { work: { localConcurrency: c, batchSize: 1 } },
    minpoll: { work: { localConcurrency: c, batchSize: 1, pollingIntervalSeconds: 0.5 } },
    notify: {
      instance: { useListenNotify: true },
      queue: { notify: true },
      work: { localConcurrency: c, batchSize: 1 },
    },
    batchburst: { work: { localConcurrency: 1, batchSize: c, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 } },
    tuned: { work: { localConcurrency: c, batchSize: 10, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 } },
  };
  const config = configs[args.config];
  if (!config) throw new Error(`unknown pg-boss config ${args.config}`);
  const boss = new PgBoss({ connectionString: args.url, ...config.instance });
  boss.on('error', (err: Error) => process.stderr.write(`pg-boss error: ${err.message}\n`));
  await boss.start();
  const kinds = ['noop', 'io5', 'probe'];
  if (args.mode === 'prepare') {
    for (const kind of kinds) await boss.createQueue(kind, { ...config.queue });
    for (const { kind, count } of args.jobs ?? []) {
      for (let done = 0; done < count; done += 5_000) {
        const n = Math.min(5_000, count - done);
        await boss.insert(
          kind,
          Array.from({ length: n }, () => ({ data: {} })),
        );
      }
    }
    return { stop: () => boss.stop({ graceful: false, wait: true }), enqueueProbe: async () => undefined };
  }
  for (const kind of kinds) {
    await boss.work(kind, config.work, async (jobs: { id: string; data: { t0?: number } }[]) => {
      await Promise.all(jobs.map((job) => exec(kind, job.data, job.id)));
    });
  }
  return {
    stop: () => boss.stop({ graceful: true, wait: true, timeout: 10_000 }),
    enqueueProbe: async (t0) => {
      await boss.send('probe', { t0 });
    },
  };
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`peer child failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
