import type { Channel, ChannelModel } from 'amqplib';
import { sleep, withTimeout } from '../async.js';
import { TimeoutError } from '../errors.js';
import type { Logger } from '../observability/logger.js';

export interface BrokerLinkOptions {
  /** AMQP_URL (a secret: never logged; only its host is). */
  url: string;
  /** What this link is for, in its log lines ("publisher", "consumer"). */
  role: string;
  log: Logger;
  /**
   * Sets up a new connection's channel and returns it; a throw closes the connection and it is tried again.
   * If the channel closes while the connection stays up (a channel error; RabbitMQ's consumer timeout), the
   * link closes the connection, and so sets up again.
   */
  setup: (connection: ChannelModel) => Promise<Channel>;
  /** The connection that setup() prepared has closed (the broker went away, or stop()). */
  onClosed?: () => void;
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;
/** Seconds between AMQP heartbeats, unless AMQP_URL sets `heartbeat`: a silent broker is noticed in about 2×. */
const HEARTBEAT_SECONDS = 5;
/**
 * setup() must finish within this, or the connection is closed and made again. Heartbeats only show a silent
 * broker; one that answers them but never answers a declaration (a quorum queue that lost its leader) would
 * otherwise hold the link in setup for good, even after the queue is repaired.
 */
export const SETUP_TIMEOUT_MS = 15_000;

/**
 * One connection to RabbitMQ, kept up: connect, set up, wait for it to close, connect again (backoff from
 * 200 ms to 5 s). A broker that goes away is logged once, when it does, and once more when it is back; a setup
 * that does not finish within SETUP_TIMEOUT_MS is logged each time.
 * amqplib is imported on the first connect, so that leader mode never loads it.
 *
 *   connecting ──ok, setup ok──▶ connected ──closed──▶ connecting ...      stop(): closed for good
 *        └──setup unanswered for SETUP_TIMEOUT_MS: closed──▶ connecting
 */
export class BrokerLink {
  private readonly stopping = new AbortController();
  private connection: ChannelModel | undefined;
  /** A connection being set up (stop() closes it, so that a setup waiting for the broker ends at once). */
  private opening: ChannelModel | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: BrokerLinkOptions) {}

  get connected(): boolean {
    return this.connection !== undefined;
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Closes the connection (unacknowledged messages go back to the queue) and stops reconnecting. Safe twice. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await (this.connection ?? this.opening)?.close().catch(() => undefined);
    await this.running;
  }

  private async run(): Promise<void> {
    const { log, role } = this.options;
    const broker = brokerHost(this.options.url);
    let retryMs = RETRY_MIN_MS;
    let down = false;
    while (!this.stopping.signal.aborted) {
      let connection: ChannelModel | undefined;
      try {
        const amqp = await import('amqplib');
        connection = await amqp.connect(withHeartbeat(this.options.url), { timeout: 5_000 });
        // Without a listener an 'error' event would end the process; 'close' follows it and is handled below.
        connection.on('error', () => undefined);
        const closed = new Promise<void>((resolve) => connection!.once('close', () => resolve()));
        if (this.stopping.signal.aborted) throw new Error('stopping');
        this.opening = connection;
        const channel = await withTimeout(
          this.options.setup(connection),
          SETUP_TIMEOUT_MS,
          `setting up the ${role}`,
          (late) => void late.close().catch(() => undefined),
        );
        this.opening = undefined;
        channel.once('close', () => void connection!.close().catch(() => undefined));
        if (this.stopping.signal.aborted) {
          await connection.close().catch(() => undefined);
          break;
        }
        this.connection = connection;
        log.info({ broker, role }, down ? 'RabbitMQ reachable again' : 'connected to RabbitMQ');
        down = false;
        retryMs = RETRY_MIN_MS;
        await closed;
        this.connection = undefined;
        this.options.onClosed?.();
        if (this.stopping.signal.aborted) break;
        log.warn({ broker, role }, 'RabbitMQ connection lost; reconnecting');
        down = true;
      } catch (err) {
        this.opening = undefined;
        await connection?.close().catch(() => undefined);
        if (this.stopping.signal.aborted) break;
        if (err instanceof TimeoutError)
          // The broker answered: not "unreachable", and not "reachable again" once the setup succeeds.
          log.warn(
            { err, broker, role, setupTimeoutMs: SETUP_TIMEOUT_MS },
            'RabbitMQ connected but did not answer the setup (its queue may have no leader); connecting again',
          );
        else {
          if (!down) log.warn({ err, broker, role }, 'RabbitMQ unreachable; retrying until it is back');
          down = true;
        }
      }
      await sleep(retryMs, this.stopping.signal);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    }
  }
}

/** What logs may show of AMQP_URL: its host and port. */
function brokerHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(not a URL)';
  }
}

function withHeartbeat(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(HEARTBEAT_SECONDS));
  return parsed.toString();
}
