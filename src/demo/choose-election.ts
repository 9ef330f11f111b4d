import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { startEtcdCluster } from './start-etcd.js';

export interface DemoElection {
  backend: 'etcd' | 'postgres';
  /** Replica settings for the backend. */
  env: Record<string, string>;
  /** One sentence for the demo's output. */
  description: string;
  /** PIDs of what it started (an etcd member), for the record. */
  pids: number[];
  stop(): Promise<void>;
  /** kill -9 what it started and remove its directory, synchronously (for a process that is exiting). */
  killNow(): void;
}

/** The first executable `name` on PATH, if any. */
function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * etcd when ETCD_ENDPOINTS is set (used as it is) or an `etcd` binary is on PATH (a 1-member etcd on free
 * loopback ports, in a temporary directory); else the postgres lease backend, which needs nothing more.
 */
export async function chooseElection(env: NodeJS.ProcessEnv = process.env): Promise<DemoElection> {
  const endpoints = env.ETCD_ENDPOINTS?.trim();
  if (endpoints) {
    return {
      backend: 'etcd',
      env: { ELECTION_BACKEND: 'etcd', ETCD_ENDPOINTS: endpoints },
      description: `etcd at ETCD_ENDPOINTS=${endpoints}`,
      pids: [],
      stop: async () => undefined,
      killNow: () => undefined,
    };
  }
  const binary = findOnPath('etcd', env.PATH);
  if (binary) return startEtcd(binary);
  return {
    backend: 'postgres',
    env: { ELECTION_BACKEND: 'postgres' },
    description:
      'the postgres backend (a lease row in the same database): no etcd binary on PATH and ETCD_ENDPOINTS unset',
    pids: [],
    stop: async () => undefined,
    killNow: () => undefined,
  };
}

async function startEtcd(binary: string): Promise<DemoElection> {
  const etcd = await startEtcdCluster({ binary, healthTimeoutMs: 20_000 });
  const [member] = etcd.members;
  const pid = member?.pid();
  return {
    backend: 'etcd',
    env: { ELECTION_BACKEND: 'etcd', ETCD_ENDPOINTS: etcd.endpoints.join(',') },
    description: `etcd: a 1-member cluster from ${binary} on ${etcd.endpoints.join(',')} (pid ${pid})`,
    pids: pid !== undefined ? [pid] : [],
    stop: () => etcd.stop(3_000),
    killNow: etcd.killNow,
  };
}
