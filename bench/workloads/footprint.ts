import { startEtcd } from '../../test/support/etcd.js';
import { freshDatabase } from '../bench-postgres.js';
import { undoOnInterrupt } from '../interrupt.js';
import { sleep } from '../stats.js';
import { ours } from '../system-ours.js';
import { rssMiB, type System } from '../systems.js';
import type { BenchContext, Measurement } from './context.js';

/** Sum of etcd's grpc_server_msg_received_total: every unary request and every streamed message it received. */
async function etcdMessages(endpoint: string): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('grpc_server_msg_received_total{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** A replica settles this long after it is ready, then is read once per window (one window per repetition). */
const SETTLE_MS = 3_000;
const WINDOW_MS = 10_000;

/**
 * Ours: a leader and an idle standby on an etcd of their own. The standby's etcd traffic is the rate with
 * both running minus the rate with the leader alone (10 s windows). RSS of the idle standby and of the idle
 * leader at the end of each window. Peers: RSS of one idle worker, read at the same ages after it was ready as
 * our standby (13, 23, 33 s... after), so that every system's idle RSS is read alike. (Busy RSS comes from
 * the drain runs.)
 */
export async function footprint(ctx: BenchContext, peers: System[]): Promise<Measurement[]> {
  const out: Measurement[] = [];
  const etcd = await startEtcd(1);
  const forgetEtcd = undoOnInterrupt('etcd (footprint)', () => etcd.stop());
  const db = await freshDatabase(ctx.server, 'footprint_ours', true);
  const ourSystem = ours(etcd.endpoints[0]!);
  const env = { ELECTION_NAME: 'bench-footprint' };
  const standbyRss: number[] = [];
  const leaderRss: number[] = [];
  const standbyRate: number[] = [];
  try {
    const leader = ourSystem.start(db, { concurrency: 10, logTo: 'pipe', env: { ...env, REPLICA_ID: 'leader' } });
    await waitFor(() => leader.logs.some((l) => l.msg.startsWith('leading')));
    await sleep(SETTLE_MS);
    let a = await etcdMessages(etcd.endpoints[0]!);
    await sleep(WINDOW_MS);
    const leaderAlone = (await etcdMessages(etcd.endpoints[0]!)) - a;
    const standby = ourSystem.start(db, { concurrency: 10, logTo: 'pipe', env: { ...env, REPLICA_ID: 'standby' } });
    await waitFor(() => standby.logs.some((l) => l.msg === 'following the leader'));
    await sleep(SETTLE_MS);
    for (let rep = 0; rep < ctx.reps; rep++) {
      a = await etcdMessages(etcd.endpoints[0]!);
      await sleep(WINDOW_MS);
      const both = (await etcdMessages(etcd.endpoints[0]!)) - a;
      standbyRate.push(Math.max(0, (both - leaderAlone) / (WINDOW_MS / 1000)));
      standbyRss.push(await rssMiB(standby.pid));
      leaderRss.push(await rssMiB(leader.pid));
    }
    ctx.log(
      `footprint ours: standby RSS ${standbyRss.map((x) => x.toFixed(0)).join('/')} MiB` +
        `, leader RSS ${leaderRss.map((x) => x.toFixed(0)).join('/')} MiB` +
        `, standby etcd ${standbyRate.map((x) => x.toFixed(2)).join('/')} msgs/s` +
        ` (leader alone ${(leaderAlone / (WINDOW_MS / 1000)).toFixed(2)}/s)`,
    );
    await Promise.all([leader.stop(), standby.stop()]);
  } finally {
    await db.drop();
    forgetEtcd();
    await etcd.stop();
  }
  const base = { workload: 'footprint', concurrency: '10', higherIsBetter: false };
  out.push({ ...base, metric: 'idle replica RSS MiB', peer: 'ours', config: 'standby', runs: standbyRss });
  out.push({ ...base, metric: 'idle replica RSS MiB', peer: 'ours', config: 'idle leader', runs: leaderRss });
  out.push({
    ...base,
    metric: 'etcd requests/s from an idle replica',
    peer: 'ours',
    config: 'standby',
    runs: standbyRate,
  });
  for (const peer of peers) {
    const runs: number[] = [];
    const pdb = await freshDatabase(ctx.server, `footprint_${peer.peer}_${peer.config}`, false);
    try {
      await peer.prepare(pdb, [], 10);
      const run = peer.start(pdb, { concurrency: 10, logTo: 'pipe' });
      await waitFor(() => run.messages.some((m) => m.type === 'ready'));
      // Read at the ages our standby is read at (SETTLE_MS, then every WINDOW_MS after it was ready).
      await sleep(SETTLE_MS);
      for (let rep = 0; rep < ctx.reps; rep++) {
        await sleep(WINDOW_MS);
        runs.push(await rssMiB(run.pid));
      }
      await run.stop();
    } finally {
      await pdb.drop();
    }
    ctx.log(`footprint ${peer.peer} ${peer.config}: idle RSS ${runs.map((x) => x.toFixed(0)).join('/')} MiB`);
    out.push({ ...base, metric: 'idle replica RSS MiB', peer: peer.peer, config: peer.config, runs });
  }
  return out;
}

async function waitFor(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('bench: footprint: timed out waiting for a replica');
    await sleep(20);
  }
}
