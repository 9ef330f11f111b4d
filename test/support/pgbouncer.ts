import { type ChildProcess, spawn } from 'node:child_process';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, waitFor } from './ports.js';

const PGBOUNCER_BIN = process.env.PGBOUNCER_BIN ?? '/usr/sbin/pgbouncer';

/** Why the PgBouncer tests cannot run here (the binary is missing), or false. */
export async function pgBouncerUnavailable(): Promise<string | false> {
  return access(PGBOUNCER_BIN, constants.X_OK).then(
    () => false,
    () => `${PGBOUNCER_BIN} not found (apt-get install pgbouncer, or set PGBOUNCER_BIN)`,
  );
}

export interface Bouncer {
  /** A URL of the database through PgBouncer (no password: PgBouncer logs in to Postgres itself). */
  url: string;
  stop(): Promise<void>;
}

/**
 * A real PgBouncer (Debian's `pgbouncer`) on a free loopback port, in front of the database at `databaseUrl`,
 * in `poolMode`, with `ignoreStartupParameters` (PgBouncer refuses a client's startup parameter it does not
 * know unless it is listed there, and then drops it). Runs in the foreground as `nobody` when this process is
 * root (PgBouncer will not run as root); stop() kills it by its PID.
 */
export async function startPgBouncer(
  databaseUrl: string,
  options: { poolMode: 'session' | 'transaction'; ignoreStartupParameters: readonly string[] },
): Promise<Bouncer> {
  const target = new URL(databaseUrl);
  const database = target.pathname.slice(1);
  const server = [
    `host=${target.hostname}`,
    `port=${target.port || 5432}`,
    `dbname=${database}`,
    `user=${decodeURIComponent(target.username) || 'postgres'}`,
    ...(target.password ? [`password=${decodeURIComponent(target.password)}`] : []),
  ].join(' ');
  // A free port can be taken by a parallel test file before PgBouncer binds it: it then exits, and is started
  // again on another port.
  for (let attempt = 1; ; attempt++) {
    const started = await startOn(await freePort(), database, server, options).catch((err: Error) => err);
    if (!(started instanceof Error)) return started;
    if (attempt === 3 || !started.message.includes('pgbouncer exited')) throw started;
  }
}

async function startOn(
  port: number,
  database: string,
  server: string,
  options: { poolMode: 'session' | 'transaction'; ignoreStartupParameters: readonly string[] },
): Promise<Bouncer> {
  // PgBouncer reads its configuration (which holds the password) before it drops root: the directory stays
  // private (mkdtemp makes it 0700).
  const dir = await mkdtemp(join(tmpdir(), 'rw-pgbouncer-'));
  const ini = join(dir, 'pgbouncer.ini');
  await writeFile(
    ini,
    [
      '[databases]',
      `${database} = ${server}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      "unix_socket_dir = ''",
      'auth_type = any',
      `pool_mode = ${options.poolMode}`,
      `ignore_startup_parameters = ${options.ignoreStartupParameters.join(',')}`,
      'max_client_conn = 200',
      'default_pool_size = 50',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const output: string[] = [];
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(PGBOUNCER_BIN, [...(asRoot ? ['-u', 'nobody'] : []), ini], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  child.on('error', (err) => output.push(`spawn failed: ${err.message}`));
  const closed = new Promise((r) => child.once('close', r));
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const stop = async () => {
    if (!exited() && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    await closed;
    await rm(dir, { recursive: true, force: true });
  };
  const url = `postgres://postgres@127.0.0.1:${port}/${database}`;
  try {
    await waitFor(`PgBouncer on port ${port}`, async () => {
      if (exited()) return 'exited';
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return (await client.query('SELECT 1 AS one')).rows[0]?.one === 1 || undefined;
      } finally {
        await client.end().catch(() => undefined);
      }
    });
    if (exited()) throw new Error('pgbouncer exited');
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output.join('')}`);
  }
  return { url, stop };
}
