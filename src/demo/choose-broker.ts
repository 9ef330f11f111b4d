import { queueName } from '../dispatch/dispatch-message.js';
import { DemoError } from './demo-error.js';

const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672/';

export interface DemoBroker {
  url: string;
  /** Where it is, for the demo's header (never its password). */
  description: string;
  /** Deletes the demo's queue (its name derives from the demo's ELECTION_NAME). */
  deleteQueue(electionName: string): Promise<void>;
}

/**
 * `demo --dispatch` needs a RabbitMQ: AMQP_URL's, else guest/guest on 127.0.0.1:5672. One that does not answer
 * within 5 s stops the demo before anything starts, saying how to get one.
 */
export async function chooseBroker(): Promise<DemoBroker> {
  const url = process.env.AMQP_URL ?? DEFAULT_AMQP_URL;
  const host = new URL(url).host;
  const amqp = await import('amqplib');
  try {
    const connection = await amqp.connect(url, { timeout: 5_000 });
    await connection.close();
  } catch (err) {
    throw new DemoError(
      `demo --dispatch needs RabbitMQ, and none answered at ${host} (${(err as Error).message}). Start one ` +
        '(`sudo apt-get install rabbitmq-server`, or `docker run -d -p 5672:5672 rabbitmq:3`), or set AMQP_URL ' +
        'to yours (amqp://user:password@host:5672/vhost); `npm run demo` without --dispatch needs none',
    );
  }
  return {
    url,
    description: `RabbitMQ at ${host}${process.env.AMQP_URL ? ' (AMQP_URL)' : ''}`,
    deleteQueue: async (electionName) => {
      const connection = await amqp.connect(url, { timeout: 5_000 });
      try {
        const channel = await connection.createChannel();
        await channel.deleteQueue(queueName(electionName));
      } finally {
        await connection.close().catch(() => undefined);
      }
    },
  };
}
