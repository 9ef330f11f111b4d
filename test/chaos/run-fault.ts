import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../support/ports.js';
import { isLeading, type Replica } from '../support/replica.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { analyse, isViolation, type RunResult } from './analyse.js';
import { StrandedWatch } from './analyse-dispatch.js';
import { type Backend, ChaosCluster, vhostBroker } from './chaos-cluster.js';
import type { ExecutionMode, Fault, FaultContext, FaultFindings, TimeoutSetting } from './fault.js';
import { RecordBook } from './records.js';

export interface RunOptions {
  backend: Backend;
  /** Dispatch: EXECUTION_MODE=dispatch, AMQP_URL to a vhost of the run's own (or the fault's broker). */
  mode: ExecutionMode;
  timeout: TimeoutSetting;
  /** LEASE_TTL_SECONDS; unset: the default (5). */
  ttlSeconds?: number;
  /** BATCH_SIZE; unset: the suite's (CHAOS_BATCH_SIZE). */
  batchSize?: number;
  records: number;
  /** The quick form's shorter fault durations. */
  quick: boolean;
  settleTimeoutMs: number;
}

export const DEFAULT_TTL_SECONDS = 5;
const HANDLERS = fileURLToPath(new URL('../../../test/fixtures/chaos-handlers.mjs', import.meta.url));

/**
 * One run of one fault on 3 replica processes, in one execution mode: inject, heal, wait until every record is
 * final, analyse.
 */
export async function runFault(fault: Fault, options: RunOptions): Promise<RunResult> {
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  const env: Record<string, string> = {};
  if (options.ttlSeconds !== undefined) env.LEASE_TTL_SECONDS = String(options.ttlSeconds);
  if (options.timeout === 'short') env.EXECUTION_TIMEOUT_MS = '1500';
  if (options.batchSize !== undefined) env.BATCH_SIZE = String(options.batchSize);
  if (fault.handlers) env.HANDLERS_MODULE = HANDLERS;
  const cluster = await ChaosCluster.start({
    backend: options.backend,
    env,
    netns: fault.netns ?? false,
    ...(options.mode === 'dispatch' ? { broker: fault.broker ?? vhostBroker } : {}),
  });
  const proxies: TcpProxy[] = [];
  const notes: string[] = [];
  let watch: StrandedWatch | undefined;
  let result: RunResult | undefined;
  try {
    const proxiesTo = async (ids: readonly string[] | undefined, server: string | undefined, setting: string) => {
      const byReplica = new Map<string, TcpProxy>();
      for (const id of server ? (ids ?? []) : []) {
        const url = new URL(server!);
        const proxy = await startProxy(proxies, url.hostname, Number(url.port));
        url.port = String(proxy.port);
        cluster.override(id, { [setting]: url.toString() });
        byReplica.set(id, proxy);
      }
      return byReplica;
    };
    const pgProxies = await proxiesTo(fault.pgProxyFor, cluster.db.url, 'DATABASE_URL');
    const brokerProxies = await proxiesTo(fault.brokerProxyFor, cluster.broker?.url, 'AMQP_URL');
    const electionProxies: TcpProxy[] = [];
    if (fault.electionProxy) {
      const targets = cluster.etcd?.endpoints ?? (cluster.redis ? [cluster.redis.url] : []);
      for (const target of targets) {
        const u = new URL(target);
        electionProxies.push(await startProxy(proxies, u.hostname, Number(u.port)));
      }
      const via = (p: TcpProxy) => `127.0.0.1:${p.port}`;
      cluster.override(
        'a',
        cluster.etcd
          ? { ETCD_ENDPOINTS: electionProxies.map((p) => `http://${via(p)}`).join(',') }
          : { REDIS_URL: `redis://${via(electionProxies[0]!)}` },
      );
    }
    const a = cluster.startReplica('a');
    await a.waitForLog(isLeading, 30_000);
    const followers = [cluster.startReplica('b'), cluster.startReplica('c')];
    // Every replica is up and campaigning before anything happens: a fault must meet three live replicas.
    await Promise.all(followers.map((r) => r.waitForLog((l) => l.msg === 'following the leader', 30_000)));

    if (options.mode === 'dispatch') watch = new StrandedWatch(cluster.pool);
    const book = new RecordBook(cluster);
    await book.insertMix(options.records, { slow: fault.slowRecords ?? false, long: options.mode === 'dispatch' });
    const trickle = book.trickle(2, 200);
    await waitFor(
      'executions under way',
      () => (cluster.sink.executions.length >= Math.min(30, options.records / 4) ? true : undefined),
      60_000,
      20,
    );

    let faultAt: number | undefined;
    const ctx: FaultContext = {
      cluster,
      book,
      ttlMs: ttlSeconds * 1000,
      quick: options.quick,
      leader: () => waitFor('a leader', () => currentLeader(cluster.replicas), 30_000, 20),
      respawn: (replica) => cluster.startReplica(replica.id),
      injected: (at) => {
        faultAt ??= at ?? Date.now();
      },
      pgProxies,
      electionProxies,
      brokerProxies,
      note: (text) => notes.push(text),
    };
    const injectCalledAt = Date.now();
    let findings: FaultFindings = { violations: [], notes: [] };
    try {
      await fault.inject(ctx);
    } finally {
      faultAt ??= injectCalledAt;
      // Due work until a newer term has executed (or any term, for a fault that ends none), so it shows.
      const oldEpoch = Math.max(
        0,
        ...cluster.sink.executions.filter((e) => cluster.loop.toWall(e.start) <= faultAt!).map((e) => e.epoch),
      );
      const newer = fault.endsTerm || fault.failoverGoal ? oldEpoch : -1;
      await waitFor(
        'an execution after the fault',
        () =>
          cluster.sink.executions.some((e) => cluster.loop.toWall(e.start) > faultAt! && e.epoch > newer)
            ? true
            : undefined,
        4 * ctx.ttlMs,
        50,
      ).catch(() => undefined);
      await trickle.stop();
    }
    try {
      await waitUntilSettled(cluster, options.settleTimeoutMs);
    } catch {
      notes.push(`not settled ${options.settleTimeoutMs} ms after the fault was healed`);
    }
    // Requests still at the sink (a call its worker abandoned) are recorded when they end: wait for them.
    await waitFor(
      'the sink to finish its requests',
      () => (cluster.sink.inFlight === 0 ? true : undefined),
      15_000,
      20,
    ).catch(() => notes.push('the sink still had requests in flight'));
    const stranded = await watch?.stop();
    if (fault.check) findings = await fault.check(ctx);
    notes.push(...findings.notes);
    result = await analyse({
      fault: fault.name,
      mode: options.mode,
      backend: options.backend,
      timeout: options.timeout,
      ttlSeconds,
      cluster,
      book,
      faultAt,
      faultViolations: findings.violations,
      ...(stranded ? { stranded } : {}),
      notes,
    });
    return result;
  } finally {
    await watch?.stop();
    await Promise.all(proxies.map((p) => p.stop()));
    await cluster.stop();
    const dir =
      process.env.CHAOS_LOG_DIR ??
      (result && (isViolation(result) || result.staleStampedLate > 0) ? LOG_DIR : undefined);
    if (dir)
      await keepLogs(dir, fault.name, options.backend, cluster).then(
        (file) => result?.notes.unshift(`replica logs kept in ${file}`),
        (err: unknown) => result?.notes.push(`replica logs not kept: ${String(err)}`),
      );
  }
}

/** Where a run's replica logs go when it had a violation or a late stamp and CHAOS_LOG_DIR is unset. */
const LOG_DIR = '.tmp/chaos-logs';

/**
 * Every replica's log lines of the run, and this process's event-loop stalls, in one JSON file, to read a run
 * afterwards. Returns the file's path.
 */
async function keepLogs(dir: string, fault: string, backend: string, cluster: ChaosCluster): Promise<string> {
  await mkdir(dir, { recursive: true });
  const { mode } = cluster;
  const at = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(dir, `${at}-${mode}-${backend}-${fault.replace(/[^\w]+/g, '_')}.json`);
  const replicas = cluster.replicas.map((r) => ({ id: r.id, logs: r.logs }));
  const stalls = cluster.loop.wallStalls();
  const { wallDriftMs } = cluster.loop;
  await writeFile(file, JSON.stringify({ fault, mode, backend, stalls, wallDriftMs, replicas }, null, 1));
  return file;
}

async function startProxy(into: TcpProxy[], host: string, port: number): Promise<TcpProxy> {
  const proxy = new TcpProxy(host, port);
  await proxy.start();
  into.push(proxy);
  return proxy;
}

async function waitUntilSettled(cluster: ChaosCluster, timeoutMs: number): Promise<void> {
  await waitFor(
    'every record to be succeeded or dead',
    async () => {
      const { rows } = await cluster.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM failed_records WHERE status = 'pending'`,
      );
      return rows[0]!.n === 0 ? true : undefined;
    },
    timeoutMs,
    100,
  );
}

/** The live replica that logged leading most recently and has not logged the end of that leadership. */
function currentLeader(replicas: readonly Replica[]): Replica | undefined {
  let best: { replica: Replica; time: number } | undefined;
  for (const r of replicas) {
    if (!r.alive) continue;
    const leading = r.logs.filter(isLeading).at(-1);
    const ended = r.logs.filter((l) => l.msg === 'leadership ended').at(-1);
    if (leading && (!ended || ended.time < leading.time) && (!best || leading.time > best.time))
      best = { replica: r, time: leading.time };
  }
  return best?.replica;
}
