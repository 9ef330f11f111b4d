import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.js';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  pid(): number | undefined;
  /** SIGKILL the member (by its PID) and wait for it to exit. */
  kill(): Promise<void>;
  /** Start it again with the same data dir and ports. */
  restart(): Promise<void>;
}

export interface EtcdCluster {
  endpoints: string[];
  members: EtcdMember[];
  stop(): Promise<void>;
}

const ETCD_BIN = process.env.ETCD_BIN ?? 'etcd';

/**
 * Starts a real etcd cluster of 1 or 3 members from the `etcd` binary (or ETCD_BIN), on free loopback
 * ports with temporary data dirs. stop() kills every member it started, by PID, and removes the dirs.
 */
export async function startEtcd(
  size: 1 | 3 = 1,
  options: { extraClientHosts?: readonly string[] } = {},
): Promise<EtcdCluster> {
  // A port found free can be taken (by an outgoing connection's ephemeral port) before etcd binds it:
  // try again on fresh ports when that is what went wrong.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdOnce(size, options.extraClientHosts ?? []);
    } catch (err) {
      if (attempt >= 3 || !String((err as Error).message).includes('address already in use')) throw err;
    }
  }
}

async function startEtcdOnce(size: 1 | 3, extraHosts: readonly string[]): Promise<EtcdCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'rw-etcd-'));
  const specs: { name: string; client: number; peer: number }[] = [];
  for (let i = 0; i < size; i++) specs.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');
  const children = new Map<string, ChildProcess>();
  const output: string[] = [];

  const launch = (s: (typeof specs)[number]) => {
    const child = spawn(
      ETCD_BIN,
      [
        '--name',
        s.name,
        '--data-dir',
        join(dir, s.name),
        '--listen-client-urls',
        ['127.0.0.1', ...extraHosts].map((h) => `http://${h}:${s.client}`).join(','),
        '--advertise-client-urls',
        `http://127.0.0.1:${s.client}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${s.peer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${s.peer}`,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        `rw-${process.pid}`,
        '--log-level',
        'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.on('data', (d: Buffer) => output.push(`${s.name}: ${d.toString()}`));
    child.on('error', (err) => output.push(`${s.name}: spawn failed: ${err.message}`));
    children.set(s.name, child);
  };
  specs.forEach(launch);

  const healthy = (url: string) =>
    fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) }).then(
      async (r) => (r.ok && ((await r.json()) as { health?: string }).health === 'true') || undefined,
    );
  const members: EtcdMember[] = specs.map((s) => {
    const clientUrl = `http://127.0.0.1:${s.client}`;
    return {
      name: s.name,
      clientUrl,
      pid: () => children.get(s.name)?.pid,
      kill: async () => {
        const child = children.get(s.name);
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      },
      restart: async () => {
        launch(s);
      },
    };
  });
  // A member that exits during start-up (say, its port was taken) fails the start at once.
  const exitedEarly = new Promise<never>((_, reject) => {
    for (const child of children.values())
      child.once('exit', () => setTimeout(() => reject(new Error('an etcd member exited during start-up')), 100));
  });
  exitedEarly.catch(() => undefined);
  try {
    await Promise.race([
      exitedEarly,
      waitFor(
        'etcd to become healthy',
        async () => {
          const states = await Promise.all(members.map((m) => healthy(m.clientUrl).catch(() => undefined)));
          return states.every(Boolean) || undefined;
        },
        30_000,
        100,
      ),
    ]);
  } catch (err) {
    await Promise.all(members.map((m) => m.kill()));
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${output.join('')}`);
  }
  return {
    endpoints: members.map((m) => m.clientUrl),
    members,
    stop: async () => {
      await Promise.all(members.map((m) => m.kill()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until every member reports healthy (after restarts). */
export async function waitForEtcdHealthy(cluster: EtcdCluster, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    'etcd cluster healthy',
    async () => {
      const states = await Promise.all(
        cluster.members.map((m) =>
          fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) })
            .then(async (r) => r.ok && ((await r.json()) as { health?: string }).health === 'true')
            .catch(() => false),
        ),
      );
      return states.every(Boolean) || undefined;
    },
    timeoutMs,
    100,
  );
}
