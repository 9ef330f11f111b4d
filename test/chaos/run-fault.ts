import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/ports.js';
import { isLeading, type Replica } from '../support/replica.js';
import { checkEvidence, type Execution } from '../support/sink.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import type { Fault, FaultContext } from './faults.js';

export interface RunOptions {
  records: number;
  ttlSeconds: number;
  settleTimeoutMs: number;
}

/** What one run of one fault showed, from the sink's record and the database. */
export interface RunResult {
  fault: string;
  records: number;
  executions: number;
  /** Late requests of a superseded leader that the sink refused by their fencing token. */
  refused: number;
  overlaps: number;
  /** Overlaps at the downstream after the first call's caller had hung up (its execution timeout): not ours to prevent, but shown. */
  overlapsAfterHangUp: number;
  /** Executions of an older epoch that started after a newer epoch had started (invariant 4), or terms overlapping. */
  epochViolations: number;
  /** Records still pending once the cluster was healthy again (invariant 2). */
  lost: number;
  /** Records executed more often than their max_attempts (invariant 3). */
  overAttempts: number;
  duplicatesAfterSuccess: number;
  /** From the fault to the next execution that started. */
  recoveryMs: number | undefined;
  notes: string[];
}

export const isViolation = (r: RunResult) => r.overlaps + r.epochViolations + r.lost + r.overAttempts > 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runFault(fault: Fault, options: RunOptions): Promise<RunResult> {
  const ttlMs = options.ttlSeconds * 1000;
  const cluster = await TestCluster.start({
    etcdMembers: 3,
    ownPostgres: true,
    env: {
      LEASE_TTL_SECONDS: String(options.ttlSeconds),
      EXECUTION_TIMEOUT_MS: '1500',
      BATCH_SIZE: '20',
      CONCURRENCY: '10',
      LOG_LEVEL: 'info',
    },
  });
  const proxies: TcpProxy[] = [];
  try {
    const overrides = new Map<string, Record<string, string>>();
    let pgProxy: TcpProxy | undefined;
    let etcdProxies: TcpProxy[] | undefined;
    if (fault.proxy === 'postgres') {
      const url = new URL(cluster.db.url);
      pgProxy = new TcpProxy(url.hostname, Number(url.port));
      await pgProxy.start();
      proxies.push(pgProxy);
      url.port = String(pgProxy.port);
      overrides.set('a', { DATABASE_URL: url.toString() });
    } else if (fault.proxy === 'etcd') {
      etcdProxies = [];
      for (const m of cluster.etcd.members) {
        const u = new URL(m.clientUrl);
        const p = new TcpProxy(u.hostname, Number(u.port));
        await p.start();
        etcdProxies.push(p);
      }
      proxies.push(...etcdProxies);
      overrides.set('a', { ETCD_ENDPOINTS: etcdProxies.map((p) => `http://127.0.0.1:${p.port}`).join(',') });
    }
    const spawn = (id: string) => cluster.startReplica(id, overrides.get(id) ?? {});
    const a = spawn('a');
    await a.waitForLog(isLeading, 30_000);
    spawn('b');
    spawn('c');

    const expected = await insertRecords(cluster, options.records, fault.slowRecords ?? false);
    await waitFor(
      'executions under way',
      () => (cluster.sink.executions.length >= Math.min(30, options.records / 10) ? true : undefined),
      60_000,
      20,
    );

    const ctx: FaultContext = {
      cluster,
      ttlMs,
      leader: () => waitFor('a leader', () => currentLeader(cluster.replicas), 30_000, 20),
      respawn: (replica) => spawn(replica.id),
      ...(pgProxy ? { pgProxy } : {}),
      ...(etcdProxies ? { etcdProxies } : {}),
    };
    const faultAt = performance.timeOrigin + performance.now();
    await fault.inject(ctx);
    const notes: string[] = [];
    try {
      await cluster.waitUntilSettled(options.settleTimeoutMs);
    } catch {
      notes.push(`not settled ${options.settleTimeoutMs} ms after the fault was healed`);
    }
    await sleep(500); // late requests of a paused leader, if any, reach the sink
    // Requests still at the sink (a slow handler's call its worker abandoned at the execution timeout) are
    // recorded when they end: wait for them, so that the analysis sees every execution.
    await waitFor(
      'the sink to finish its requests',
      () => (cluster.sink.inFlight === 0 ? true : undefined),
      10_000,
      20,
    ).catch(() => notes.push('the sink still had requests in flight'));
    return await analyse(fault.name, cluster, expected, faultAt, notes);
  } finally {
    await Promise.all(proxies.map((p) => p.stop()));
    await cluster.stop();
  }
}

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

type Expectation = { status: 'succeeded' | 'dead'; maxAttempts: number };

async function insertRecords(cluster: TestCluster, total: number, slow: boolean): Promise<Map<number, Expectation>> {
  const expected = new Map<number, Expectation>();
  const add = async (
    count: number,
    behaviour: Parameters<TestCluster['insertSinkRecords']>[1],
    expectation: Expectation,
    maxAttempts?: number,
  ) => {
    if (count <= 0) return;
    for (const id of await cluster.insertSinkRecords(count, behaviour, maxAttempts)) expected.set(id, expectation);
  };
  const slowCount = slow ? Math.round(total * 0.05) : 0;
  const failing = Math.round(total * 0.1);
  const flaky = Math.round(total * 0.15);
  await add(total - slowCount - failing - flaky, { mode: 'ok', delayMs: 20 }, { status: 'succeeded', maxAttempts: 5 });
  await add(flaky, { mode: 'fail-until', succeedOnAttempt: 2, delayMs: 20 }, { status: 'succeeded', maxAttempts: 5 });
  await add(failing, { mode: 'always-fail', delayMs: 10 }, { status: 'dead', maxAttempts: 3 }, 3);
  await add(slowCount, { mode: 'ok', delayMs: 2_500 }, { status: 'dead', maxAttempts: 2 }, 2);
  return expected;
}

async function analyse(
  fault: string,
  cluster: TestCluster,
  expected: Map<number, Expectation>,
  faultAt: number,
  notes: string[],
): Promise<RunResult> {
  const all = [...cluster.sink.executions]; // one snapshot: every count below is of the same executions
  const accepted = all.filter((e) => !e.refused);
  const evidence = checkEvidence(all);

  let epochViolations = evidence.termOverlaps.filter((o) => !o.afterHangUp).length;
  let highest = 0;
  for (const e of [...accepted].sort((x, y) => x.start - y.start)) {
    if (e.epoch < highest) epochViolations++;
    highest = Math.max(highest, e.epoch);
  }

  const { rows: uids } = await cluster.pool.query<{ id: number; uid: string }>('SELECT id, uid FROM failed_records');
  const idOf = new Map(uids.map((r) => [r.uid, r.id]));
  const byRecord = new Map<string, Execution[]>();
  for (const e of accepted) byRecord.set(e.key, [...(byRecord.get(e.key) ?? []), e]);
  let overAttempts = 0;
  let duplicatesAfterSuccess = 0;
  for (const [key, list] of byRecord) {
    const max = expected.get(idOf.get(key) ?? -1)?.maxAttempts ?? 5;
    if (list.length > max) overAttempts++;
    const sorted = [...list].sort((x, y) => x.start - y.start);
    const firstSuccess = sorted.find((e) => e.status < 300);
    if (firstSuccess) duplicatesAfterSuccess += sorted.filter((e) => e.start > firstSuccess.start).length;
  }

  const { rows } = await cluster.pool.query<{ id: number; status: string }>('SELECT id, status FROM failed_records');
  const lost = rows.filter((r) => r.status === 'pending').length;
  const wrong = rows.filter((r) => r.status !== 'pending' && expected.get(r.id)?.status !== r.status);
  if (wrong.length > 0)
    notes.push(
      `${wrong.length} records ended ${wrong[0]!.status} against expectation (e.g. attempts spent by crashes)`,
    );

  const next = accepted.filter((e) => e.start > faultAt).sort((x, y) => x.start - y.start)[0];
  return {
    fault,
    records: expected.size,
    executions: accepted.length,
    refused: all.length - accepted.length,
    overlaps: evidence.overlaps.filter((o) => !o.afterHangUp).length,
    overlapsAfterHangUp:
      evidence.overlaps.filter((o) => o.afterHangUp).length + evidence.termOverlaps.filter((o) => o.afterHangUp).length,
    epochViolations,
    lost,
    overAttempts,
    duplicatesAfterSuccess,
    recoveryMs: next ? Math.round(next.start - faultAt) : undefined,
    notes,
  };
}
