/**
 * `npm run bench`: our CLI and its peers (graphile-worker, pg-boss) on one Postgres, in one run, on the same
 * workloads; prints a Markdown table (stdout) with every figure and the ratio ours ÷ peer. Progress goes to
 * stderr; results, the table and every process's log go to .tmp/bench/<time>/.
 *
 *   node dist/bench/run.js [--quick] [--reps N] [--records N]
 *                          [--only drain,io,latency,burst,backlog,footprint,failover,reference,retention,
 *                                  dispatch]
 *                          [--peers graphile-worker,pg-boss | --peers none] [--ours-env KEY=VALUE ...]
 *                          [--compare CHECKOUT] [--layouts leader,1,2,3]
 *
 * --quick: a few hundred records, ours only, one repetition (the smoke test runs it).
 * --compare: also run another checkout's build (e.g. a git worktree of main, built) beside ours, in the
 * drain, io and latency workloads, with the same settings: an A/B of a change within one run.
 * --layouts: the dispatch workload's layouts, `leader` (leader mode) and numbers of replicas in dispatch mode
 * (all four by default; e.g. `--layouts 3` for repeated A/B runs of three replicas).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { startEtcd } from '../test/support/etcd.js';
import { createVhost } from '../test/support/rabbitmq.js';
import { benchServer, serverInfo } from './bench-postgres.js';
import { handleInterrupts, undoOnInterrupt } from './interrupt.js';
import { PEER_NODE, PEERS_DIR, ROOT } from './paths.js';
import { markdownTable } from './report.js';
import { ours } from './system-ours.js';
import { graphileCli, peerSystem } from './system-peers.js';
import type { System } from './systems.js';
import { backlog } from './workloads/backlog.js';
import type { BenchContext, Measurement } from './workloads/context.js';
import { dispatchThroughput } from './workloads/dispatch.js';
import { failover } from './workloads/failover.js';
import { footprint } from './workloads/footprint.js';
import { latency } from './workloads/latency.js';
import { reference } from './workloads/reference.js';
import { retention } from './workloads/retention.js';
import { throughput } from './workloads/throughput.js';

const ALL = [
  'drain',
  'io',
  'latency',
  'burst',
  'backlog',
  'footprint',
  'failover',
  'reference',
  'retention',
  'dispatch',
] as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      reps: { type: 'string' },
      only: { type: 'string' },
      peers: { type: 'string' },
      'ours-env': { type: 'string', multiple: true },
      compare: { type: 'string' },
      records: { type: 'string', default: '100000' },
      layouts: { type: 'string', default: 'leader,1,2,3' },
    },
  });
  const quick = values.quick ?? false;
  const only = new Set(values.only ? values.only.split(',') : quick ? ['drain', 'io', 'latency'] : ALL);
  const peerNames = new Set(
    values.peers === 'none' || (quick && values.peers === undefined)
      ? []
      : (values.peers ?? 'graphile-worker,pg-boss').split(','),
  );
  const reps = Number(values.reps ?? (quick ? 1 : 3));
  const records = Number(values.records);
  if (peerNames.size > 0 && !existsSync(PEER_NODE)) {
    process.stderr.write(`bench: installing the peers and their Node 22 into ${PEERS_DIR} (npm ci)\n`);
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: PEERS_DIR, stdio: ['ignore', 2, 2] });
    if (r.status !== 0) throw new Error('bench: could not install bench/peers; run `npm ci` in bench/peers');
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = `${ROOT}.tmp/bench/${stamp}${quick ? '-quick' : ''}`;
  const logDir = `${outDir}/logs`;
  await mkdir(logDir, { recursive: true });
  const log = (message: string) => process.stderr.write(`bench: ${message}\n`);
  handleInterrupts(log);
  const server = await benchServer();
  const forgetServer = undoOnInterrupt('Postgres', () => server.stop());
  const etcd = await startEtcd(1);
  const forgetEtcd = undoOnInterrupt('etcd', () => etcd.stop());
  const ctx: BenchContext = { server, etcdEndpoints: etcd.endpoints[0]!, logDir, reps, quick, log };
  const info = await serverInfo(server);
  const machine = {
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    peerNode: peerNames.size > 0 ? execFileSync(PEER_NODE, ['-v']).toString().trim() : '(no peers)',
    postgres: info.version,
    postgresSource: server.source,
    postgresSettings: info.settings,
    ourLogLevel: 'info (JSON lines to a file)',
  };
  log(`Postgres from ${server.source}: ${info.version}`);

  // --ours-env KEY=VALUE (repeatable): settings for our replicas, e.g. BATCH_SIZE=500, to compare configurations.
  const oursEnv = Object.fromEntries(
    (values['ours-env'] ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const us = ours(ctx.etcdEndpoints, { env: oursEnv });
  const embedded = quick ? [] : [ours(ctx.etcdEndpoints, { env: oursEnv, embedded: true })];
  const alt = values.compare ? [ours(ctx.etcdEndpoints, { env: oursEnv, build: values.compare })] : [];
  const cli = (...configs: string[]): System[] =>
    peerNames.has('graphile-worker') ? configs.map((c) => graphileCli(c)) : [];
  const peer = (p: 'graphile-worker' | 'pg-boss', ...configs: string[]): System[] =>
    peerNames.has(p) ? configs.map((c) => peerSystem(p, c)) : [];
  const measurements: Measurement[] = [];
  const loadBefore = loadavg()[0]!.toFixed(2);
  try {
    if (only.has('drain')) {
      const n = quick ? 300 : records;
      measurements.push(
        ...(await throughput(
          ctx,
          'drain',
          [
            us,
            ...embedded,
            ...alt,
            ...peer('graphile-worker', 'default', 'batched', 'perfdoc'),
            ...cli('batched'),
            ...peer('pg-boss', 'default', 'batchburst', 'tuned'),
          ],
          'noop',
          n,
          10,
        )),
      );
    }
    if (only.has('io')) {
      const n = quick ? 200 : records;
      for (const c of quick ? [10] : [50]) {
        measurements.push(
          ...(await throughput(
            ctx,
            'io',
            [
              us,
              ...embedded,
              ...alt,
              ...peer('graphile-worker', 'default', 'batched'),
              ...cli('batched'),
              ...peer('pg-boss', 'default', 'batchburst', 'tuned'),
            ],
            'io5',
            n,
            c,
          )),
        );
      }
    }
    if (only.has('burst')) {
      // A new deployment's first burst: the records arrive at a ready worker, on tables analyzed while empty.
      measurements.push(
        ...(await throughput(
          ctx,
          'burst',
          [us, ...alt, ...peer('graphile-worker', 'batched')],
          'noop',
          quick ? 300 : records,
          10,
          { burst: true },
        )),
      );
    }
    if (only.has('latency')) {
      measurements.push(
        ...(await latency(
          ctx,
          [us, ...alt, ...peer('graphile-worker', 'default', 'batched'), ...peer('pg-boss', 'notify', 'batchburst')],
          quick ? 20 : 200,
          20,
        )),
      );
    }
    if (only.has('backlog'))
      measurements.push(
        ...(await backlog(
          ctx,
          [us, ...peer('graphile-worker', 'batched'), ...peer('pg-boss', 'batchburst')],
          10_000,
          quick ? 50_000 : 1_000_000,
          10_000,
        )),
      );
    if (only.has('footprint'))
      measurements.push(
        ...(await footprint(ctx, [...peer('graphile-worker', 'default'), ...peer('pg-boss', 'default')])),
      );
    if (only.has('failover')) measurements.push(...(await failover(ctx, us, [5, 2], quick ? 1 : 5)));
    if (only.has('reference')) measurements.push(...(await reference(ctx, quick ? 3 : 10)));
    if (only.has('retention')) {
      // Ours alone, without and with retention, over the same old finished rows (issue 20: within 5 %).
      const retain = { ...oursEnv, RETAIN_SUCCEEDED_DAYS: '30', RETAIN_FINISHED_DAYS: '30' };
      const withRetention = ours(ctx.etcdEndpoints, { env: retain });
      measurements.push(...(await retention(ctx, us, withRetention, quick ? 300 : records, 10)));
    }
    // Dispatch mode (RabbitMQ on 127.0.0.1:5672, a vhost of the run's own) on 1, 2 and 3 replicas beside leader
    // mode, and its insert-to-start latency beside leader mode's.
    if (only.has('dispatch')) {
      const vhost = await createVhost('rw-bench');
      try {
        const layouts = values.layouts.split(',');
        measurements.push(...(await dispatchThroughput(ctx, us, vhost.url, quick ? 300 : 6_000, 10, layouts)));
        const env = { ...oursEnv, EXECUTION_MODE: 'dispatch', AMQP_URL: vhost.url };
        const viaRabbit: System = { ...ours(ctx.etcdEndpoints, { env }), config: 'EXECUTION_MODE=dispatch' };
        measurements.push(...(await latency(ctx, [us, viaRabbit], quick ? 20 : 200, 20)));
      } finally {
        await vhost.drop();
      }
    }
  } finally {
    forgetEtcd();
    await etcd.stop();
    forgetServer();
    await server.stop();
  }
  // Busy-leader RSS: the peak sampled during each system's drain.
  for (const m of measurements.filter((x) => x.workload === 'drain' && x.extra?.peakRssMiB)) {
    measurements.push({
      workload: 'footprint',
      metric: 'busy RSS MiB (peak while draining)',
      peer: m.peer,
      config: m.config,
      concurrency: m.concurrency,
      runs: m.extra!.peakRssMiB!,
      higherIsBetter: false,
    });
  }
  const table = markdownTable(measurements);
  const loadAfter = loadavg()[0]!.toFixed(2);
  const header = [
    `Machine: ${machine.cpus}, ${machine.memoryGiB} GiB; ` +
      `load average ${loadBefore} before the run, ${loadAfter} after.`,
    `Ours on Node ${machine.node}; peers on Node ${machine.peerNode}.`,
    `Postgres (${machine.postgresSource}): ${machine.postgres}; ${Object.entries(machine.postgresSettings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}.`,
    (
      `Medians of ${reps} run(s); our LOG_LEVEL: ${machine.ourLogLevel}. ` +
      `Command: node dist/bench/run.js ${process.argv.slice(2).join(' ')}`
    ).trim(),
    'Our figures include what the peers do not do: the fence check and handover barrier in every claim, ' +
      'an attempt ledger row committed before every handler starts (and the outcome of any attempt not committed ' +
      'with its record), and each row held locked for its whole execution.',
  ].join('\n');
  await writeFile(`${outDir}/results.json`, JSON.stringify({ machine, reps, measurements }, null, 2));
  await writeFile(`${outDir}/report.md`, `${header}\n\n${table}\n`);
  process.stdout.write(`${header}\n\n${table}\n`);
  log(`results in ${outDir}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
