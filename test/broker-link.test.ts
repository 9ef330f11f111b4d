import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Channel } from 'amqplib';
import { pino } from 'pino';
import { BrokerLink } from '../src/dispatch/broker-link.js';
import { waitFor } from './support/ports.js';
import { fileVhost } from './support/rabbitmq.js';

const { unavailable, vhost } = await fileVhost('rw-link');

test('a channel closed by the broker while its connection stays up is set up again', {
  skip: unavailable,
}, async () => {
  const channels: Channel[] = [];
  const link = new BrokerLink({
    url: vhost().url,
    role: 'test',
    log: pino({ level: 'silent' }),
    setup: async (connection) => {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      channels.push(channel);
      return channel;
    },
  });
  link.start();
  try {
    await waitFor('the first channel', () => channels[0]);
    // A channel-level error: the broker closes this channel (404), not the connection.
    await assert.rejects(channels[0]!.checkQueue('no-such-queue'));
    await waitFor('a second channel, set up again', () => channels[1], 10_000);
  } finally {
    await link.stop();
  }
});
