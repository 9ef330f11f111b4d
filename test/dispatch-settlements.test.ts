import assert from 'node:assert/strict';
import { test } from 'node:test';
import amqp, { type ConsumeMessage } from 'amqplib';
import { QUEUE_OPTIONS } from '../src/dispatch/dispatch-message.js';
import { Settlements } from '../src/dispatch/settlements.js';
import { waitFor } from './support/ports.js';
import { fileVhost } from './support/rabbitmq.js';

const { unavailable, vhost } = await fileVhost('rw-settle');

test("a group's acknowledgements go as one frame only when no older delivery of the channel is open", {
  skip: unavailable,
}, async () => {
  const connection = await amqp.connect(vhost().url);
  try {
    const channel = await connection.createChannel();
    const closed = new Promise<unknown>((resolve) => channel.on('error', resolve).on('close', resolve));
    await channel.assertQueue('settle', QUEUE_OPTIONS);
    await channel.prefetch(20);
    const settlements = new Settlements();
    const deliveries: ConsumeMessage[] = [];
    await channel.consume('settle', (msg) => {
      if (!msg) return;
      settlements.delivered(channel, msg);
      deliveries.push(msg);
    });
    // What reaches the broker: each ack frame, with its `multiple` flag.
    const acks: [string, boolean][] = [];
    const ack = channel.ack.bind(channel);
    channel.ack = (msg, allUpTo) => {
      acks.push([msg.content.toString(), allUpTo ?? false]);
      ack(msg, allUpTo);
    };
    for (const n of [1, 2, 3, 4, 5, 6]) channel.sendToQueue('settle', Buffer.from(String(n)));
    await waitFor('six deliveries', () => deliveries.length === 6);
    const d = (n: number) => ({ channel, msg: deliveries.find((m) => m.content.toString() === String(n))! });

    settlements.settle([d(2), d(1), d(3)], 'ack');
    assert.deepEqual(acks.splice(0), [['3', true]], 'the oldest open deliveries: one frame');
    settlements.settle([d(5), d(6)], 'ack');
    assert.deepEqual(
      acks.splice(0),
      [
        ['5', false],
        ['6', false],
      ],
      'delivery 4 is still open: one frame each, so that it is not acknowledged with them',
    );
    settlements.settle([d(4)], 'requeue');
    await waitFor('delivery 4 again', () => deliveries.find((m) => m.fields.redelivered));
    const again = deliveries.find((m) => m.fields.redelivered)!;
    assert.equal(again.content.toString(), '4');
    settlements.settle([{ channel, msg: again }], 'ack');
    assert.deepEqual(acks.splice(0), [['4', false]]);
    // Every frame was accepted (a tag acknowledged twice would close the channel) and nothing is left open.
    await channel.checkQueue('settle');
    await waitFor('the queue empty', async () => {
      const depth = await vhost().queueDepth('settle');
      return depth?.ready === 0 && depth.unacked === 0;
    });
    assert.equal(await Promise.race([closed, 'open']), 'open');
  } finally {
    await connection.close();
  }
});
