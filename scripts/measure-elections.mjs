// Measures each election backend with real servers and replica processes: steady-state leadership
// changes (flapping), graceful handover and crash takeover. Usage (after `npm run build`):
//   node scripts/measure-elections.mjs [--tries 5] [--steady-seconds 20] [--ttls 2,5] [--backends etcd,redis,postgres]
// Times are from the replicas' own log lines (wall clock, one machine): graceful = the old leader's
// "leadership ended" -> the next "leading" line (fenced in Postgres, executing); crash = kill -9 -> next "leading".
import { parseArgs } from 'node:util';
import { TestCluster } from '../dist/test/support/cluster.js';
import { waitFor } from '../dist/test/support/ports.js';
import { isLeading } from '../dist/test/support/replica.js';

const { values } = parseArgs({
  options: {
    tries: { type: 'string', default: '5' },
    'steady-seconds': { type: 'string', default: '20' },
    ttls: { type: 'string', default: '2,5' },
    backends: { type: 'string', default: 'etcd,redis,postgres' },
  },
});
const tries = Number(values.tries);
const steadyMs = Number(values['steady-seconds']) * 1000;

const leading = (cluster) =>
  cluster.replicas
    .flatMap((r) => r.logs.filter(isLeading).map((line) => ({ replica: r, line })))
    .sort((a, b) => a.line.time - b.line.time);
const next = (cluster, after) =>
  waitFor('a new leader', () => leading(cluster).find((l) => l.line.time > after && l.replica.alive), 30_000, 5);
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const rows = [];

for (const ttl of values.ttls.split(',').map(Number)) {
  for (const backend of values.backends.split(',')) {
    const cluster = await TestCluster.start({ env: { ELECTION_BACKEND: backend, LEASE_TTL_SECONDS: String(ttl) } });
    const interrupted = () => cluster.stop().finally(() => process.exit(130));
    process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
    let n = 0;
    const spawn = () => cluster.startReplica(`r${n++}`);
    try {
      for (let i = 0; i < 3; i++) spawn();
      let current = await next(cluster, 0);
      const steadyFrom = Date.now();
      await new Promise((r) => setTimeout(r, steadyMs));
      const flaps = leading(cluster).filter((l) => l.line.time > steadyFrom).length;
      const graceful = [];
      const crash = [];
      for (let i = 0; i < tries; i++) {
        current.replica.signal('SIGTERM');
        await current.replica.exited;
        const ended = current.replica.logs.find((l) => l.msg === 'leadership ended');
        const following = await next(cluster, current.line.time);
        graceful.push(following.line.time - ended.time);
        spawn();
        current = following;
        await new Promise((r) => setTimeout(r, 500));
      }
      for (let i = 0; i < tries; i++) {
        const killedAt = Date.now();
        await current.replica.kill();
        const following = await next(cluster, current.line.time);
        crash.push(following.line.time - killedAt);
        spawn();
        current = following;
        await new Promise((r) => setTimeout(r, 500));
      }
      rows.push({ backend, ttl, flaps, steadySeconds: steadyMs / 1000, graceful, crash });
      console.error(
        `${backend} TTL ${ttl}: flaps ${flaps}, graceful ${graceful.join(' ')} ms, crash ${crash.join(' ')} ms`,
      );
    } finally {
      process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
      await cluster.stop();
    }
  }
}

console.log(
  `| backend | TTL | leadership changes in ${steadyMs / 1000} s steady |` +
    ` graceful p50 / max (ms) | crash p50 / max (ms) |`,
);
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.backend} | ${r.ttl} s | ${r.flaps} | ${pct(r.graceful, 50)} / ${Math.max(...r.graceful)} |` +
      ` ${pct(r.crash, 50)} / ${Math.max(...r.crash)} |`,
  );
}
