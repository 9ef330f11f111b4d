import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { DemoError } from './demo-error.js';
import { freePort } from './free-port.js';

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
  const dir = await mkdtemp(join(tmpdir(), 'retry-worker-demo-etcd-'));
  const [client, peer] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${client}`;
  const output: string[] = [];
  const child: ChildProcess = spawn(
    binary,
    [
      '--name',
      'demo',
      '--data-dir',
      join(dir, 'data'),
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-cluster',
      `demo=http://127.0.0.1:${peer}`,
      '--log-level',
      'error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  child.on('error', (err) => output.push(`spawn failed: ${err.message}`));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(
        () => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'),
        3_000,
      );
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const healthy = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) })
      .then(async (r) => r.ok && ((await r.json()) as { health?: string }).health === 'true')
      .catch(() => false);
    if (healthy) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new DemoError(`etcd (${binary}) did not become healthy: ${output.join('').slice(-1000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    backend: 'etcd',
    env: { ELECTION_BACKEND: 'etcd', ETCD_ENDPOINTS: clientUrl },
    description: `etcd: a 1-member cluster from ${binary} on ${clientUrl} (pid ${child.pid})`,
    pids: child.pid !== undefined ? [child.pid] : [],
    stop,
    killNow: () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
        process.kill(child.pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
