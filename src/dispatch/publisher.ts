import type { ConfirmChannel } from 'amqplib';
import type { Logger } from '../observability/logger.js';
import { Waker } from '../waker.js';
import { BrokerLink } from './broker-link.js';
import { type DispatchMessage, encodeMessage, QUEUE_OPTIONS } from './dispatch-message.js';

/** A message that has not been confirmed within this long counts as not published. */
const CONFIRM_TIMEOUT_MS = 10_000;

/**
 * The leader's side of the queue: a confirm channel on a link of its own. `publish()` says, per message,
 * whether the broker confirmed it (it is then stored in the durable quorum queue).
 */
export class Publisher {
  private channel: ConfirmChannel | undefined;
  private readonly ready = new Waker();
  private readonly link: BrokerLink;

  constructor(
    url: string,
    private readonly queue: string,
    log: Logger,
  ) {
    this.link = new BrokerLink({
      url,
      role: 'publisher',
      log,
      setup: async (connection) => {
        const channel = await connection.createConfirmChannel();
        channel.on('error', () => undefined);
        channel.once('close', () => {
          if (this.channel === channel) this.channel = undefined;
        });
        await channel.assertQueue(queue, QUEUE_OPTIONS);
        this.channel = channel;
        this.ready.wake();
        return channel;
      },
      onClosed: () => (this.channel = undefined),
    });
  }

  /** Whether a channel is open now. */
  get isReady(): boolean {
    return this.channel !== undefined;
  }

  start(): void {
    this.link.start();
  }

  stop(): Promise<void> {
    return this.link.stop();
  }

  /** Resolves when a channel opens, after `ms`, or when `signal` aborts. */
  async waitReady(ms: number, signal: AbortSignal): Promise<void> {
    if (!this.isReady) await this.ready.wait(ms, signal);
  }

  /** Publishes one persistent message; resolves true once the broker confirmed it, false if it did not. */
  publish(message: DispatchMessage): Promise<boolean> {
    const channel = this.channel;
    if (!channel) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), CONFIRM_TIMEOUT_MS);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        resolve(ok);
      };
      try {
        channel.sendToQueue(
          this.queue,
          encodeMessage(message),
          { persistent: true, messageId: message.token, contentType: 'application/json' },
          (err: unknown) => done(!err),
        );
      } catch {
        done(false); // the channel closed under us
      }
    });
  }
}
