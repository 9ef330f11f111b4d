import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DemoError } from './demo-error.js';
import { freePort } from './free-port.js';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  pid(): number | undefined;
  /** Signals the member (by its PID; SIGKILL unless told) and waits until it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again with the same data directory and ports (it does not wait for it to be healthy). */
  restart(): void;
}

export interface EtcdCluster {
  /** The members' client URLs. */
  endpoints: string[];
  members: EtcdMember[];
  /**
   * Stops every member it started and removes the temporary directory: SIGTERM, and SIGKILL after `graceMs`;
   * SIGKILL at once when `graceMs` is 0.
   */
  stop(graceMs?: number): Promise<void>;
  /** kill -9 every member and remove the directory, synchronously (for a process that is exiting). */
  killNow(): void;
}

export interface StartEtcdOptions {
  /** The etcd binary; `etcd` (on PATH) by default. */
  binary?: string;
  size?: number;
  /** Hosts to serve clients on besides 127.0.0.1 (say, the host side of a test network); advertised is loopback. */
  extraClientHosts?: readonly string[];
  /** The temporary directory's name prefix. */
  dirPrefix?: string;
  healthTimeoutMs?: number;
}

/** Whether the etcd serving clients at `clientUrl` reports itself healthy (false when it does not answer). */
export function etcdHealthy(clientUrl: string): Promise<boolean> {
  return fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) })
    .then(async (r) => r.ok && ((await r.json()) as { health?: string }).health === 'true')
    .catch(() => false);
}

const isRunning = (child: ChildProcess | undefined): child is ChildProcess =>
  child !== undefined && child.exitCode === null && child.signalCode === null;

/**
 * A real etcd cluster of `size` members (1 by default) from the etcd binary, on free loopback ports, in a
 * temporary directory, healthy when it resolves; the demo's and the tests'. A member that exits during start-up
 * fails the start (the message carries etcd's output: a port taken meanwhile says `address already in use`).
 */
export async function startEtcdCluster(options: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const binary = options.binary ?? 'etcd';
  const dir = await mkdtemp(join(tmpdir(), options.dirPrefix ?? 'retry-worker-demo-etcd-'));
  const specs: { name: string; client: number; peer: number }[] = [];
  for (let i = 0; i < (options.size ?? 1); i++)
    specs.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');
  const clientHosts = ['127.0.0.1', ...(options.extraClientHosts ?? [])];
  const children = new Map<string, { child: ChildProcess; closed: Promise<void> }>();
  const output: string[] = [];

  const launch = (s: (typeof specs)[number]) => {
    const child = spawn(
      binary,
      [
        ...['--name', s.name, '--data-dir', join(dir, s.name)],
        ...['--listen-client-urls', clientHosts.map((h) => `http://${h}:${s.client}`).join(',')],
        ...['--advertise-client-urls', `http://127.0.0.1:${s.client}`],
        ...['--listen-peer-urls', `http://127.0.0.1:${s.peer}`],
        ...['--initial-advertise-peer-urls', `http://127.0.0.1:${s.peer}`],
        ...['--initial-cluster', initialCluster, '--initial-cluster-state', 'new'],
        ...['--initial-cluster-token', `rw-${process.pid}`, '--log-level', 'error'],
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.on('data', (d: Buffer) => output.push(`${s.name}: ${d.toString()}`));
    child.on('error', (err) => output.push(`${s.name}: spawn failed: ${err.message}`));
    // 'close' comes after the exit (or a failed spawn) once its stderr is read to the end.
    children.set(s.name, { child, closed: new Promise((resolve) => child.once('close', () => resolve())) });
  };
  const members: EtcdMember[] = specs.map((s) => ({
    name: s.name,
    clientUrl: `http://127.0.0.1:${s.client}`,
    pid: () => children.get(s.name)?.child.pid,
    kill: async (signal = 'SIGKILL') => {
      const running = children.get(s.name);
      if (!running) return;
      if (isRunning(running.child) && running.child.pid !== undefined) process.kill(running.child.pid, signal);
      await running.closed;
    },
    restart: () => launch(s),
  }));
  const stop = async (graceMs = 0) => {
    await Promise.all(
      members.map(async (m) => {
        if (graceMs === 0) return m.kill();
        const timer = setTimeout(() => void m.kill(), graceMs);
        await m.kill('SIGTERM');
        clearTimeout(timer);
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };

  specs.forEach(launch);
  const deadline = Date.now() + (options.healthTimeoutMs ?? 30_000);
  for (;;) {
    const states = await Promise.all(members.map((m) => etcdHealthy(m.clientUrl)));
    if (states.every(Boolean)) break;
    const exited = [...children.values()].some(({ child }) => !isRunning(child));
    if (exited || Date.now() > deadline) {
      await stop();
      const why = exited ? 'a member exited during start-up' : 'timed out';
      throw new DemoError(`etcd (${binary}) did not become healthy (${why}): ${output.join('').slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoints: members.map((m) => m.clientUrl),
    members,
    stop,
    killNow: () => {
      for (const { child } of children.values()) if (isRunning(child) && child.pid) process.kill(child.pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
