import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const RABBITMQCTL = process.env.RABBITMQCTL_BIN ?? 'rabbitmqctl';

export interface RabbitVhost {
  /** amqp://guest:guest@127.0.0.1:5672/<vhost> */
  url: string;
  vhost: string;
  /** Closes every client connection to this vhost (the broker's side of a cut link). */
  closeConnections(reason?: string): Promise<number>;
  /** Messages ready and unacknowledged in `queue`. */
  queueDepth(queue: string): Promise<{ ready: number; unacked: number } | undefined>;
  drop(): Promise<void>;
}

/** Why RabbitMQ tests cannot run here, or undefined if they can (rabbitmqctl is on PATH and answers). */
export async function rabbitUnavailable(): Promise<string | undefined> {
  try {
    await run(RABBITMQCTL, ['-q', 'status'], { timeout: 30_000 });
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? 'rabbitmqctl is not on PATH: install rabbitmq-server (.ci/run does) to run the dispatch-mode tests'
      : `RabbitMQ does not answer rabbitmqctl status: ${(err as Error).message.split('\n')[0]}`;
  }
}

/**
 * A vhost of its own on the RabbitMQ at 127.0.0.1:5672 (guest/guest), made with rabbitmqctl, so that test
 * files never see each other's queues. drop() deletes it, with its queues.
 */
export async function createVhost(prefix = 'rw-test'): Promise<RabbitVhost> {
  const vhost = `${prefix}-${process.pid}-${randomBytes(4).toString('hex')}`;
  await run(RABBITMQCTL, ['-q', 'add_vhost', vhost], { timeout: 30_000 });
  await run(RABBITMQCTL, ['-q', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*'], { timeout: 30_000 });
  const port = process.env.AMQP_PORT ?? '5672';
  return {
    vhost,
    url: `amqp://guest:guest@127.0.0.1:${port}/${encodeURIComponent(vhost)}`,
    closeConnections: async (reason = 'test: connection cut') => {
      const { stdout } = await run(RABBITMQCTL, ['-q', 'list_connections', 'pid', 'vhost'], { timeout: 30_000 });
      const pids = stdout
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((cols) => cols[1] === vhost)
        .map((cols) => cols[0]!);
      // All at once: one by one, each rabbitmqctl call (about half a second) would leave the rest up meanwhile.
      await Promise.all(
        pids.map((pid) => run(RABBITMQCTL, ['-q', 'close_connection', pid, reason], { timeout: 30_000 })),
      );
      return pids.length;
    },
    queueDepth: async (queue) => {
      const { stdout } = await run(
        RABBITMQCTL,
        ['-q', 'list_queues', '-p', vhost, 'name', 'messages_ready', 'messages_unacknowledged'],
        { timeout: 30_000 },
      );
      const row = stdout
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .find((cols) => cols[0] === queue);
      return row ? { ready: Number(row[1]), unacked: Number(row[2]) } : undefined;
    },
    drop: async () => {
      await run(RABBITMQCTL, ['-q', 'delete_vhost', vhost], { timeout: 60_000 }).catch(() => undefined);
    },
  };
}

/**
 * A vhost for the calling test file: made before its tests and dropped after them, where RabbitMQ answers.
 * `unavailable` says why not (for the tests' `skip`); `vhost()` is the vhost, inside a test.
 */
export async function fileVhost(
  prefix: string,
): Promise<{ unavailable: string | undefined; vhost: () => RabbitVhost }> {
  const unavailable = await rabbitUnavailable();
  let made: RabbitVhost | undefined;
  before(async () => {
    if (!unavailable) made = await createVhost(prefix);
  });
  after(async () => {
    await made?.drop();
  });
  const vhost = () => {
    if (!made) throw new Error(`no vhost: ${unavailable ?? 'before() has not run'}`);
    return made;
  };
  return { unavailable, vhost };
}
