import type { Replica } from '../support/replica.js';
import type { TcpProxy } from '../support/tcp-proxy.js';
import type { Backend, ChaosCluster } from './chaos-cluster.js';
import type { RecordBook } from './records.js';

/** The execution timeouts a run can use: EXECUTION_TIMEOUT_MS unset (60 s) or 1500 ms. */
export type TimeoutSetting = 'default' | 'short';

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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
