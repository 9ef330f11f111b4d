import type pg from 'pg';
import { type EtcdCluster, startEtcd } from './etcd.js';
import { waitFor } from './ports.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { type RedisServer, startRedis } from './redis.js';
import { Replica } from './replica.js';
import { Sink } from './sink.js';

/** Everything a process-level test needs: etcd, a database of its own, a sink, and replica processes. */
export class TestCluster {
  readonly replicas: Replica[] = [];
  private constructor(
    readonly etcd: EtcdCluster,
    readonly db: TestDatabase,
    readonly sink: Sink,
    readonly baseEnv: Record<string, string>,
    readonly redis: RedisServer | undefined,
  ) {}

  static async start(
    options: { etcdMembers?: 1 | 3; env?: Record<string, string>; ownPostgres?: boolean } = {},
  ): Promise<TestCluster> {
    const needsRedis = options.env?.ELECTION_BACKEND === 'redis';
    const [etcd, db, redis] = await Promise.all([
      startEtcd(options.etcdMembers ?? 1),
      createTestDatabase('rw_test', { ownServer: options.ownPostgres }),
      needsRedis ? startRedis() : undefined,
    ]);
    const sink = new Sink();
    await sink.start();
    const baseEnv = {
      DATABASE_URL: db.url,
      ETCD_ENDPOINTS: etcd.endpoints.join(','),
      ELECTION_NAME: `${redis?.namePrefix ?? ''}test`,
      ...(redis ? { REDIS_URL: redis.url } : {}),
      BACKOFF_BASE_MS: '20',
      BACKOFF_MAX_MS: '200',
      POLL_INTERVAL_MS: '200',
      ...options.env,
    };
    return new TestCluster(etcd, db, sink, baseEnv, redis);
  }

  get pool(): pg.Pool {
    return this.db.pool;
  }

  startReplica(id: string, env: Record<string, string> = {}): Replica {
    const replica = new Replica(id, { ...this.baseEnv, ...env });
    this.replicas.push(replica);
    return replica;
  }

  /** Inserts records that call the sink (kind `http` unless told another of the same payload); returns their ids. */
  async insertSinkRecords(
    count: number,
    behaviour: Parameters<Sink['payload']>[0],
    { maxAttempts, kind = 'http' }: { maxAttempts?: number; kind?: string } = {},
  ): Promise<number[]> {
    const { rows } = await this.pool.query<{ id: number }>(
      `INSERT INTO failed_records (kind, payload, max_attempts)
       SELECT $4, $1::jsonb, $3 FROM generate_series(1, $2) RETURNING id`,
      [JSON.stringify(this.sink.payload(behaviour)), count, maxAttempts ?? null, kind],
    );
    return rows.map((r) => r.id);
  }

  async pendingCount(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM failed_records WHERE status = 'pending'`,
    );
    return rows[0]!.n;
  }

  async waitUntilSettled(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      'every record to be succeeded or dead',
      async () => ((await this.pendingCount()) === 0 ? true : undefined),
      timeoutMs,
      100,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.kill()));
    await this.sink.stop();
    await Promise.all([this.etcd.stop(), this.db.drop(), this.redis?.stop()]);
  }
}
