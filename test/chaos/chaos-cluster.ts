import type pg from 'pg';
import { type EtcdCluster, startEtcd } from '../support/etcd.js';
import { NetLab } from '../support/netns.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { type PrivateRabbit, startPrivateRabbit } from '../support/private-rabbit.js';
import { createVhost } from '../support/rabbitmq.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { Replica } from '../support/replica.js';
import { Sink } from '../support/sink.js';
import type { ExecutionMode } from './fault.js';
import { LoopWatch } from './loop-watch.js';

export type Backend = 'etcd' | 'redis' | 'postgres' | 'static';

/** Dispatch mode's RabbitMQ, as a run sees it: a vhost of its own (or, later, a node of its own). */
export interface ChaosBroker {
  /** AMQP_URL for the replicas (on loopback: the machine's broker listens there only). */
  url: string;
  /** The broker closes every client connection of the run (its side of a cut link); returns how many. */
  closeConnections(reason?: string): Promise<number>;
  /** Removes the run's vhost (or stops the node), with its queues. */
  drop(): Promise<void>;
  /** A node of the run's own, which a fault may kill and start again (undefined for a vhost). */
  node?: PrivateRabbit;
}

/** The default broker of a dispatch run: a fresh vhost on the machine's RabbitMQ, dropped by stop(). */
export const vhostBroker = (): Promise<ChaosBroker> => createVhost('rw-chaos');

/** A RabbitMQ node of the run's own (startPrivateRabbit), for a fault that kills the broker and starts it again. */
export async function privateBroker(): Promise<ChaosBroker> {
  const node = await startPrivateRabbit();
  return {
    url: node.url.replace(/\/$/, ''),
    node,
    drop: () => node.dispose(),
    closeConnections: () => Promise.reject(new Error('closeConnections is the vhost broker’s only')),
  };
}

export interface ChaosClusterOptions {
  backend: Backend;
  /** Dispatch mode: the replicas run with EXECUTION_MODE=dispatch and AMQP_URL to this broker's vhost. */
  broker?: () => Promise<ChaosBroker>;
  /** Replica settings (LEASE_TTL_SECONDS, EXECUTION_TIMEOUT_MS, … ; unset ones keep their defaults). */
  env: Record<string, string>;
  /** Run every replica in a network namespace of its own (for faults that cut a host off). */
  netns: boolean;
}

/** A replica process's fate, as the fault dealt it (to explain duplicates after success). */
export interface ReplicaEvent {
  at: number;
  replicaId: string;
  what: string;
}

/**
 * One chaos run's world: the election backend's servers (a 3-member etcd, or a Redis), a PostgreSQL of its
 * own, in dispatch mode a RabbitMQ vhost of its own, the recording sink, and the replica processes; with
 * `netns`, a test network whose namespaces the replicas run in (the servers and the sink then also listen on
 * the network's host address).
 */
/** Clusters started and not yet stopped, for stopAllClusters(). */
const running = new Set<ChaosCluster>();

/**
 * Stops every cluster still running: its replicas, servers, network namespaces and database. For a signal
 * handler, since a process that exits on a signal runs no `finally`.
 */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop().catch(() => undefined)));
}

/** The suite's BATCH_SIZE: small, so that a fault finds several batches open (`--batch-size` sets another). */
export const CHAOS_BATCH_SIZE = 20;

export class ChaosCluster {
  readonly replicas: Replica[] = [];
  readonly events: ReplicaEvent[] = [];
  /** This process's event loop and wall clock while the cluster runs: the sink's stamps depend on both. */
  readonly loop = new LoopWatch();
  private readonly overrides = new Map<string, Record<string, string>>();

  private constructor(
    readonly options: ChaosClusterOptions,
    readonly db: TestDatabase,
    readonly sink: Sink,
    readonly etcd: EtcdCluster | undefined,
    readonly redis: RedisServer | undefined,
    readonly net: NetLab | undefined,
    /** Dispatch mode's RabbitMQ (undefined in leader mode). */
    readonly broker: ChaosBroker | undefined,
    /** Where the replicas reach each server: loopback, or the test network's host address. */
    readonly serverHost: string,
  ) {}

  static async start(options: ChaosClusterOptions): Promise<ChaosCluster> {
    // The machine's RabbitMQ listens on loopback only: a replica in a namespace of its own could not reach it.
    if (options.broker && options.netns) throw new Error('dispatch mode cannot run in network namespaces');
    const net = options.netns ? await NetLab.create() : undefined;
    const extra = net ? [net.hostAddress] : [];
    const started: { stop(): Promise<void> }[] = [];
    const keep = <T extends { stop(): Promise<void> }>(server: T) => {
      started.push(server);
      return server;
    };
    try {
      const [db, etcd, redis, broker] = await Promise.all([
        createTestDatabase('rw_chaos', {
          ownServer: true,
          embedded: { extraListenAddresses: extra, allowNetworks: net ? [net.network] : [] },
        }).then((d) => keep({ ...d, stop: d.drop })),
        options.backend === 'etcd' ? startEtcd(3, { extraClientHosts: extra }).then(keep) : undefined,
        options.backend === 'redis' ? startRedis({ extraBindHosts: extra, own: true }).then(keep) : undefined,
        options.broker?.().then((b) => keep({ ...b, stop: b.drop })),
      ]);
      const sink = keep(new Sink());
      await sink.start(net?.hostAddress);
      if (net) for (const id of ['a', 'b', 'c']) await net.addHost(id);
      const cluster = new ChaosCluster(options, db, sink, etcd, redis, net, broker, net?.hostAddress ?? '127.0.0.1');
      cluster.loop.start();
      running.add(cluster);
      return cluster;
    } catch (err) {
      await Promise.all(started.map((s) => s.stop().catch(() => undefined)));
      await net?.destroy();
      throw err;
    }
  }

  get mode(): ExecutionMode {
    return this.broker ? 'dispatch' : 'leader';
  }

  get pool(): pg.Pool {
    return this.db.pool;
  }

  /** The settings every replica gets (before per-replica overrides, and the run's own: `env`). */
  get baseEnv(): Record<string, string> {
    const { backend, env } = this.options;
    return {
      DATABASE_URL: this.reachable(this.db.url),
      ELECTION_BACKEND: backend,
      ELECTION_NAME: `${this.redis?.namePrefix ?? ''}chaos`,
      ...(this.etcd ? { ETCD_ENDPOINTS: this.etcd.endpoints.map((u) => this.reachable(u)).join(',') } : {}),
      ...(this.redis ? { REDIS_URL: this.reachable(this.redis.url) } : {}),
      ...(backend === 'static' ? { LEADER_ID: 'a' } : {}),
      ...(this.broker ? { EXECUTION_MODE: 'dispatch', AMQP_URL: this.broker.url } : {}),
      BACKOFF_BASE_MS: '20',
      BACKOFF_MAX_MS: '200',
      POLL_INTERVAL_MS: '200',
      BATCH_SIZE: String(CHAOS_BATCH_SIZE),
      CONCURRENCY: '10',
      LOG_LEVEL: 'info',
      ...env,
    };
  }

  /** `url` with its host replaced by the one the replicas reach the servers at. */
  reachable(url: string): string {
    const u = new URL(url);
    u.hostname = this.serverHost;
    return u.toString().replace(/\/$/, '');
  }

  /** Settings that replica `id` gets on top of the base ones, now and when it is started again. */
  override(id: string, env: Record<string, string>): void {
    this.overrides.set(id, { ...this.overrides.get(id), ...env });
  }

  startReplica(id: string): Replica {
    const env = { ...this.baseEnv, ...this.overrides.get(id) };
    const replica = new Replica(id, env, this.net?.launcher(id) ?? []);
    this.replicas.push(replica);
    return replica;
  }

  /** kill -9 a replica process, noting when (its in-flight outcomes are lost with it). */
  async kill(replica: Replica, what = 'killed (kill -9)'): Promise<void> {
    this.events.push({ at: Date.now(), replicaId: replica.id, what });
    await replica.kill();
  }

  /** Notes what befell a replica, now or at `at` (wall-clock ms). */
  note(replicaId: string, what: string, at = Date.now()): void {
    this.events.push({ at, replicaId, what });
  }

  async stop(): Promise<void> {
    running.delete(this);
    this.loop.stop();
    await Promise.all(this.replicas.map((r) => r.kill()));
    await this.sink.stop();
    await Promise.all(
      [this.etcd?.stop(), this.redis?.stop(), this.broker?.drop(), this.db.drop()].map((p) =>
        p?.catch(() => undefined),
      ),
    );
    await this.net?.destroy();
  }
}
