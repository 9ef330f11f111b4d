import { insertRecords } from '../db/insert-records.js';
import { migrate } from '../db/migrate.js';
import { createPool } from '../db/pool.js';
import { type QueueStats, readQueueStats } from '../db/queue-stats.js';
import { chooseBroker } from './choose-broker.js';
import { chooseElection } from './choose-election.js';
import { DemoConsole } from './demo-console.js';
import { DemoError } from './demo-error.js';
import { demoRecords } from './demo-records.js';
import { DemoReplica, type LogLine } from './demo-replica.js';
import { DemoSink } from './demo-sink.js';
import { type Failover, findOverlaps, renderSummary } from './demo-summary.js';
import { startEmbeddedPostgres } from './start-embedded-postgres.js';

export interface DemoOptions {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  /** Records to insert (default 300). */
  records?: number;
  /** EXECUTION_MODE=dispatch: the leader publishes to RabbitMQ and all three replicas execute. */
  dispatch?: boolean;
}

const REPLICAS = ['replica-1', 'replica-2', 'replica-3'];
const LEASE_TTL_SECONDS = 2;
/** The leader is killed once this share of the records has settled. */
const KILL_AT = 0.35;
const SINK_DELAY_MS = 40;
const SETTLE_TIMEOUT_MS = 40_000;

const LEADING = [
  'leading: this replica now executes failed records',
  'leading: this replica now dispatches failed records',
];

/**
 * `retry-worker demo`: embedded PostgreSQL, etcd or the postgres backend, 3 replica processes, a sink, a few
 * hundred failed records, kill -9 of the leader midway, and a summary. Everything it starts it stops, by PID,
 * also on SIGINT/SIGTERM. Returns the exit code: 0 when every record settled and no overlap was found.
 */
export async function runDemo(options: DemoOptions): Promise<number> {
  const con = new DemoConsole(options.out);
  const cleanups: Cleanup[] = [];
  const interrupted = new AbortController();
  const onSignal = () => interrupted.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // embedded-postgres stops its server on SIGINT/SIGTERM and then calls process.exit before our async
  // cleanup can finish: whatever is still running is then killed here, synchronously, by PID.
  const onExit = () => {
    for (const c of [...cleanups].reverse()) {
      try {
        c.now?.();
      } catch {
        // best effort while exiting
      }
    }
  };
  process.on('exit', onExit);
  try {
    return await new DemoRun(
      con,
      cleanups,
      interrupted.signal,
      options.records ?? 300,
      options.dispatch ?? false,
    ).run();
  } catch (err) {
    con.endProgress();
    con.line(`demo failed: ${err instanceof DemoError || err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    const done: string[] = [];
    while (cleanups.length > 0) {
      const c = cleanups.at(-1)!;
      await c.run().catch((err: unknown) => con.line(`cleanup of ${c.what} failed: ${String(err)}`));
      cleanups.pop();
      done.push(c.what);
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    if (done.length > 0) con.line(`cleaned up: ${done.join('; ')}`);
  }
}

/** How to stop one thing the demo started: `run` normally, `now` synchronously if the process exits first. */
interface Cleanup {
  what: string;
  run: () => Promise<void>;
  now?: () => void;
}

class DemoRun {
  private readonly replicas: DemoReplica[] = [];
  private leader: { replica: DemoReplica; epoch: number } | undefined;
  private failover: Failover | undefined;
  private executions = 0;
  private readonly followed = new Map<string, unknown>();
  private readonly startedAt = Date.now();

  constructor(
    private readonly con: DemoConsole,
    private readonly cleanups: Cleanup[],
    private readonly interrupted: AbortSignal,
    private readonly count: number,
    private readonly dispatch: boolean,
  ) {}

  async run(): Promise<number> {
    const { con } = this;
    con.line(
      this.dispatch
        ? 'retry-worker demo --dispatch: 3 replicas elect one dispatcher and all 3 execute; ' +
            'the leader is killed (kill -9) midway'
        : 'retry-worker demo: 3 replicas elect one executor; its leader is killed (kill -9) midway',
    );
    const broker = this.dispatch ? await chooseBroker() : undefined;
    const postgres = await startEmbeddedPostgres();
    this.cleanups.push({
      what: 'PostgreSQL stopped, its temporary directory removed',
      run: postgres.stop,
      now: postgres.removeNow,
    });
    con.line(`  postgres: embedded PostgreSQL on 127.0.0.1:${postgres.port} (temporary data directory)`);
    const election = await chooseElection();
    this.cleanups.push({
      what:
        `election backend ${election.backend}` +
        `${election.pids.length ? ` (etcd pid ${election.pids.join(', ')}) stopped` : ''}`,
      run: election.stop,
      now: election.killNow,
    });
    con.line(`  election: ${election.description}`);
    const pool = createPool({ databaseUrl: postgres.url, max: 2, applicationName: 'retry-worker demo' });
    this.cleanups.push({ what: 'demo connections closed', run: () => pool.end() });
    const applied = await migrate(pool);
    con.line(`  migrated: ${applied.join(', ')}`);
    const sink = new DemoSink();
    await sink.start();
    this.cleanups.push({ what: 'sink stopped', run: () => sink.stop() });
    con.line(
      `  sink: ${sink.url} (answers 200, 503 or 422 as each record's body asks; keeps its own record of every request)`,
    );
    this.checkInterrupted();

    const electionName = process.env.ETCD_ENDPOINTS || broker ? `demo-${process.pid}-${Date.now()}` : 'demo';
    if (broker) {
      con.line(`  broker: ${broker.description}, queue of election ${electionName}`);
      this.cleanups.push({ what: "the demo's queue deleted", run: () => broker.deleteQueue(electionName) });
    }
    const env = {
      DATABASE_URL: postgres.url,
      ...election.env,
      ...(broker ? { EXECUTION_MODE: 'dispatch', AMQP_URL: broker.url } : {}),
      ELECTION_NAME: electionName,
      LEASE_TTL_SECONDS: String(LEASE_TTL_SECONDS),
      CONCURRENCY: '5',
      BATCH_SIZE: '20',
      BACKOFF_BASE_MS: '300',
      BACKOFF_MAX_MS: '1500',
      POLL_INTERVAL_MS: '200',
      SHUTDOWN_TIMEOUT_MS: '3000',
      EXECUTION_TIMEOUT_MS: '10000',
      LOG_LEVEL: 'info',
    };
    for (const id of REPLICAS) this.replicas.push(new DemoReplica(id, env, (r, l) => this.onLine(r, l)));
    this.cleanups.push({
      what: `replicas stopped (pids ${this.replicas.map((r) => r.pid).join(', ')})`,
      run: () => Promise.all(this.replicas.map((r) => r.kill())).then(() => undefined),
      now: () => {
        for (const r of this.replicas) r.killNow();
      },
    });
    con.line(
      `  replicas: ${this.replicas.map((r) => `${r.id} (pid ${r.pid})`).join(', ')}; lease TTL ${LEASE_TTL_SECONDS} s`,
    );
    con.line('');
    await this.until('a replica to lead', () => this.leader !== undefined, 30_000);

    const ids = await insertRecords(pool, demoRecords(this.count, sink.url, SINK_DELAY_MS));
    con.line(
      `inserted ${ids.length} failed records (kind http, calling the sink)` +
        `: half succeed at once, some on a later retry, some end dead`,
    );
    con.line(
      this.dispatch
        ? "every replica's execution lines follow (the leader publishes, all three execute):"
        : "the executing replica's log lines follow; the other replicas only follow:",
    );
    let stats = await readQueueStats(pool);
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (stats.records.pending > 0 && Date.now() < deadline) {
      this.checkInterrupted();
      await new Promise((r) => setTimeout(r, 250));
      stats = await readQueueStats(pool);
      this.con.progress(this.progressLine(stats));
      if (!this.failover && this.leader && stats.records.succeeded + stats.records.dead >= KILL_AT * this.count)
        await this.killLeader();
    }
    con.endProgress();
    if (stats.records.pending > 0)
      con.line(`${stats.records.pending} records were still pending after ${SETTLE_TIMEOUT_MS / 1000} s`);
    con.line('all records settled; stopping the replicas with SIGTERM (they drain and resign)');
    await Promise.all(this.replicas.map((r) => r.stop(8_000)));
    stats = await readQueueStats(pool);
    con.line(
      renderSummary({
        backend: election.backend,
        leaseTtlSeconds: LEASE_TTL_SECONDS,
        records: stats.records,
        executions: sink.executions,
        failover: this.failover,
        elapsedMs: Date.now() - this.startedAt,
      }),
    );
    const overlaps = findOverlaps(sink.executions);
    return stats.records.pending === 0 && overlaps.records.length === 0 && overlaps.terms.length === 0 ? 0 : 1;
  }

  private async killLeader(): Promise<void> {
    const { replica, epoch } = this.leader!;
    const killedAt = Date.now();
    this.failover = { killed: replica.id, killedEpoch: epoch, killedAt };
    this.con.line(
      `>>> kill -9 ${replica.pid}: killing the leader ${replica.id} (epoch ${epoch}) in the middle of its work`,
    );
    this.leader = undefined;
    await replica.kill();
  }

  private onLine(replica: DemoReplica, l: LogLine): void {
    const tag = `[${replica.id}${l.epoch !== undefined ? ` epoch ${l.epoch}` : ''}]`;
    if (LEADING.includes(l.msg)) {
      this.leader = { replica, epoch: l.epoch! };
      if (this.failover && !this.failover.next && replica.id !== this.failover.killed) {
        this.failover.next = { replicaId: replica.id, epoch: l.epoch!, ledAt: l.time };
        this.con.line(
          `>>> takeover: ${replica.id} leads epoch ${l.epoch} ` +
            `${((l.time - this.failover.killedAt) / 1000).toFixed(2)} s after the kill`,
        );
      } else
        this.con.line(
          `>>> ${replica.id} leads (epoch ${l.epoch}); ` +
            (this.dispatch ? 'it dispatches, all execute' : 'it alone executes'),
        );
    } else if (l.msg.startsWith('execution ') && l.msg !== 'execution started') {
      this.executions++;
      const next = this.failover?.next;
      if (next && next.firstExecutionAt === undefined && replica.id === next.replicaId) next.firstExecutionAt = l.time;
      const err = (l.err as { message?: string } | undefined)?.message;
      const outcome =
        l.msg === 'execution succeeded' ? 'succeeded' : l.msg.includes('dead') ? 'failed: dead' : 'failed: will retry';
      this.con.line(
        `${tag} record ${l.recordId} attempt ${l.attempt}: ${outcome}` +
          ` (${Math.round(Number(l.durationMs ?? 0))} ms)` +
          `${err ? ` ${err.replace(/\s+/g, ' ').trim().slice(0, 70)}` : ''}`,
      );
    } else if (l.msg === 'following the leader') {
      if (this.followed.get(replica.id) !== l.leader) this.con.line(`${tag} follows ${String(l.leader)}`);
      this.followed.set(replica.id, l.leader);
    } else if (
      l.msg === 'stopped executing' ||
      l.msg === 'leadership ended' ||
      l.level === 'error' ||
      l.level === 'fatal'
    ) {
      if (this.leader?.replica === replica && l.msg === 'stopped executing') this.leader = undefined;
      this.con.line(`${tag} ${l.msg}${l.reason ? ` (${String(l.reason)})` : ''}`);
    }
  }

  private progressLine(s: QueueStats): string {
    const settled = s.records.succeeded + s.records.dead;
    const leader = this.leader ? `${this.leader.replica.id} epoch ${this.leader.epoch}` : 'none (election in progress)';
    return (
      `progress: ${settled}/${this.count} settled` +
      ` (succeeded ${s.records.succeeded}, dead ${s.records.dead}, pending ${s.records.pending})` +
      `, ${this.executions} executions, leader ${leader}`
    );
  }

  private async until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      this.checkInterrupted();
      if (Date.now() > deadline)
        throw new DemoError(
          `timed out waiting for ${what}: ${this.replicas
            .flatMap((r) => r.stderr)
            .join('')
            .slice(-1500)}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private checkInterrupted(): void {
    if (this.interrupted.aborted) throw new DemoError('interrupted');
  }
}
