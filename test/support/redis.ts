import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './ports.js';

export interface RedisServer {
  url: string;
  /** Prefix for election names: unique per run, so tests against a shared REDIS_URL never collide. */
  namePrefix: string;
  /** True when we spawned the server ourselves (so tests may change its CONFIG). */
  owned: boolean;
  /** SIGSTOP / SIGCONT our own server by its PID (to simulate a hung Redis); undefined with REDIS_URL. */
  suspend?: () => void;
  resume?: () => void;
  stop(): Promise<void>;
}

const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';

/**
 * Uses REDIS_URL when set, unless `own` (election names then get a unique prefix). Otherwise spawns
 * `redis-server --port <free> --bind 127.0.0.1 --save '' --appendonly no` on a free loopback port, in a
 * temporary working dir, and stop() kills that process by its PID. Never touches a Redis on 6379 unless
 * REDIS_URL names it.
 */
export async function startRedis(
  options: { password?: string; extraBindHosts?: readonly string[]; own?: boolean } = {},
): Promise<RedisServer> {
  const namePrefix = `t${process.pid}-${randomBytes(4).toString('hex')}-`;
  const external = options.own || options.password !== undefined ? undefined : process.env.REDIS_URL;
  if (external) {
    await ping(external, 10_000);
    return { url: external, namePrefix, owned: false, stop: async () => undefined };
  }

  // A free port can be taken by a parallel test file between freePort() and redis-server's bind: then the
  // server exits at once, and it is started again on another port.
  let server: { child: ChildProcess; url: string; kill: () => Promise<void> } | undefined;
  for (let attempt = 1; !server; attempt++) {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'rw-redis-'));
    const output: string[] = [];
    const child: ChildProcess = spawn(
      REDIS_BIN,
      [
        '--port',
        String(port),
        '--bind',
        ['127.0.0.1', ...(options.extraBindHosts ?? [])].join(' '),
        '--protected-mode',
        'no',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--loglevel',
        'warning',
        ...(options.password !== undefined ? ['--requirepass', options.password] : []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    child.on('error', (err) => output.push(`spawn failed: ${err.message}`));
    // 'close': exited and its output read to the end (what it printed can arrive after 'exit').
    const closed = new Promise((r) => child.once('close', r));
    const kill = async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
        process.kill(child.pid, 'SIGKILL');
      await closed;
      await rm(dir, { recursive: true, force: true });
    };
    const url =
      `redis://${options.password !== undefined ? `:${encodeURIComponent(options.password)}@` : ''}` +
      `127.0.0.1:${port}`;
    try {
      await ping(url, 15_000, () => child.exitCode !== null || child.signalCode !== null);
      server = { child, url, kill };
    } catch (err) {
      await kill();
      if (attempt < 5 && output.join('').includes('Address already in use')) continue;
      throw new Error(`${(err as Error).message}\n${output.join('')}`);
    }
  }
  const { child, url, kill } = server;
  const signal = (sig: NodeJS.Signals) => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, sig);
  };
  return {
    url,
    namePrefix,
    owned: true,
    suspend: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    stop: async () => {
      signal('SIGCONT');
      await kill();
    },
  };
}

async function ping(url: string, timeoutMs: number, died: () => boolean = () => false): Promise<void> {
  let exited = false;
  await waitFor(
    `redis at ${url} to answer PING`,
    async () => {
      if (died()) {
        exited = true;
        return true; // stop waiting: a server that exited will not answer
      }
      const client = new Redis(url, {
        lazyConnect: true,
        connectTimeout: 500,
        commandTimeout: 500,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return (await client.ping()) === 'PONG' || undefined;
      } finally {
        client.disconnect();
      }
    },
    timeoutMs,
    100,
  );
  if (exited) throw new Error('redis-server exited');
}
