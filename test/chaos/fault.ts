import type { Replica } from '../support/replica.js';
import type { TcpProxy } from '../support/tcp-proxy.js';
import type { Backend, ChaosBroker, ChaosCluster } from './chaos-cluster.js';
import type { RecordBook } from './records.js';

/** The execution timeouts a run can use: EXECUTION_TIMEOUT_MS unset (60 s) or 1500 ms. */
export type TimeoutSetting = 'default' | 'short';

/**
 * EXECUTION_MODE of the replicas: `leader` (only the leader executes) or `dispatch` (the leader publishes due
 * records to RabbitMQ and every replica consumes and executes them).
 */
export type ExecutionMode = 'leader' | 'dispatch';

export interface FaultContext {
  cluster: ChaosCluster;
  book: RecordBook;
  /** The lease TTL the replicas run with. */
  ttlMs: number;
  /** The quick form (npm test): faults keep their durations short where that does not weaken them. */
  quick: boolean;
  /** The replica that leads now (waits for one). */
  leader(): Promise<Replica>;
  /** Starts a replacement for a replica that exited, under the same id and settings. */
  respawn(replica: Replica): Replica;
  /**
   * Marks the instant the fault hit (now, or `at`, a wall-clock ms time): failover is measured from it.
   * Unmarked, it is the moment inject() was called.
   */
  injected(at?: number): void;
  /** Proxies of the fault's own between a replica and Postgres, by replica id (see Fault.pgProxyFor). */
  pgProxies: Map<string, TcpProxy>;
  /** Proxies between replica a and the election backend's servers (see Fault.electionProxy). */
  electionProxies: TcpProxy[];
  /** Dispatch mode: proxies of the fault's own between a replica and RabbitMQ, by replica id (Fault.brokerProxyFor). */
  brokerProxies: Map<string, TcpProxy>;
  /** Notes for the report (what the fault did, or could not do). */
  note(text: string): void;
}

/** What a fault's own check found, beyond the checks every run gets. */
export interface FaultFindings {
  violations: string[];
  notes: string[];
}

export interface Fault {
  name: string;
  backends: readonly Backend[];
  /** The execution timeouts it means something at (default: both). */
  timeouts?: readonly TimeoutSetting[];
  /** Replicas whose Postgres connections go through a proxy of the suite's own. */
  pgProxyFor?: readonly string[];
  /** Replica a's connections to the election backend go through proxies. */
  electionProxy?: boolean;
  /**
   * The execution modes it runs in (default: leader). In dispatch mode it runs on DISPATCH_BACKENDS only, at
   * the default execution timeout only.
   */
  modes?: readonly ExecutionMode[];
  /** The quick form (npm test) runs it in dispatch mode too (it always runs it once in leader mode, if any). */
  quickDispatch?: boolean;
  /** Dispatch mode: replicas whose AMQP connections go through a proxy of the suite's own. */
  brokerProxyFor?: readonly string[];
  /**
   * Dispatch mode: where the run's RabbitMQ comes from (default: a vhost of its own on the machine's broker,
   * which a fault may not restart). The hook for a fault that restarts the broker: a factory that starts a
   * node of the run's own (startPrivateRabbit, test/support/private-rabbit.ts: its url, and dispose() as
   * drop(); closeConnections is only the vhost fault's) and keeps it where the fault's inject() can stop, kill
   * and start it again.
   */
  broker?: () => Promise<ChaosBroker>;
  /** Every replica runs in a network namespace of its own. */
  netns?: boolean;
  /** Replicas load test/fixtures/chaos-handlers.mjs. */
  handlers?: boolean;
  /** Records slower than a 1.5 s execution timeout join the mix. */
  slowRecords?: boolean;
  /** The fault ends the leader's term (another term takes over): the run waits for that before settling. */
  endsTerm?: boolean;
  /**
   * The failover goal applies: the fault ends the leader's term, and at default settings another term
   * executes within LEASE_TTL_SECONDS + 2 s of the injection. The quick test asserts it.
   */
  failoverGoal?: boolean;
  /** Injects the fault and heals it; returns when the cluster is meant to be healthy again. */
  inject(ctx: FaultContext): Promise<void>;
  /** Checks of the fault's own, once every record is final. */
  check?(ctx: FaultContext): Promise<FaultFindings>;
}

export const ALL_BACKENDS: readonly Backend[] = ['etcd', 'redis', 'postgres'];

/**
 * The backends dispatch mode runs on. The election only gates who dispatches, and every backend's failover
 * is shown in leader mode; one backend keeps the added time moderate.
 */
export const DISPATCH_BACKENDS: readonly Backend[] = ['etcd'];

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
