import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Channel } from 'amqplib';
import { pino } from 'pino';
import { BrokerLink, SETUP_TIMEOUT_MS } from '../src/dispatch/broker-link.js';
import { waitFor } from './support/ports.js';
import { fileVhost } from './support/rabbitmq.js';

const { unavailable, vhost } = await fileVhost('rw-link');

/** A link to this file's vhost whose setup opens a channel and hands it to `onChannel`, which may hold it up. */
function testLink(onChannel: (channel: Channel) => Promise<void> | void, log = pino({ level: 'silent' })) {
  return new BrokerLink({
    url: vhost().url,
    role: 'test',
    log,
    setup: async (connection) => {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await onChannel(channel);
      return channel;
    },
  });
}

test('a channel closed by the broker while its connection stays up is set up again', {
  skip: unavailable,
}, async () => {
  const channels: Channel[] = [];
  const link = testLink((channel) => void channels.push(channel));
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

/** A pino logger whose lines land in `lines`. */
function capture(lines: Record<string, unknown>[]) {
  return pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
}

test('a setup the broker never finishes answering is given up after SETUP_TIMEOUT_MS and made on a new connection', {
  skip: unavailable,
  timeout: SETUP_TIMEOUT_MS + 30_000,
}, async () => {
  const lines: Record<string, unknown>[] = [];
  const setups: { channel: Channel; closed: Promise<void> }[] = [];
  const link = testLink(async (channel) => {
    setups.push({ channel, closed: new Promise((resolve) => channel.once('close', () => resolve())) });
    // The first setup waits for an answer that never comes, as a declaration of a queue without a leader does.
    if (setups.length === 1) await new Promise(() => undefined);
  }, capture(lines));
  const startedAt = performance.now();
  link.start();
  try {
    await waitFor('a second setup, on a new connection', () => setups[1], SETUP_TIMEOUT_MS + 15_000);
    const waitedMs = performance.now() - startedAt;
    assert.ok(waitedMs >= SETUP_TIMEOUT_MS, `set up again after ${Math.round(waitedMs)} ms`);
    await setups[0]!.closed; // the hung setup's connection was closed
    await waitFor('the link connected', () => (link.connected ? true : undefined));
    const warning = lines.find((l) => l.setupTimeoutMs === SETUP_TIMEOUT_MS);
    assert.ok(warning, JSON.stringify(lines));
    assert.equal(warning.level, 40);
    assert.match(String(warning.msg), /did not answer the setup/);
  } finally {
    await link.stop();
  }
});

test('stop() during a setup that waits for the broker returns at once', { skip: unavailable }, async () => {
  let setupStarted = false;
  const link = testLink(async (channel) => {
    setupStarted = true;
    // An RPC the broker answers only when the connection closes: stop() must close it.
    await new Promise<void>((_, reject) => channel.once('close', () => reject(new Error('channel closed'))));
  });
  link.start();
  await waitFor('the setup to start', () => (setupStarted ? true : undefined));
  const stoppingAt = performance.now();
  await link.stop();
  const stopMs = performance.now() - stoppingAt;
  assert.ok(stopMs < 2_000, `stop() took ${Math.round(stopMs)} ms`);
  assert.equal(link.connected, false);
});
