import type { Channel, ConsumeMessage } from 'amqplib';

/** A delivery's settlement: acknowledged (done with), or returned to the queue. */
export type Settle = 'ack' | 'requeue';

/**
 * A consumer's deliveries not settled yet, per channel, and their settlement: acknowledged (done with) or
 * returned to the queue. The acknowledgements of a group go as one frame (AMQP's `multiple` flag: every
 * delivery up to a tag) when they are all the channel's open deliveries up to the group's last; otherwise, and
 * for returns, one frame each. In a quorum queue every settlement is a command the queue's log replicates.
 *
 * Every delivery must be told to `delivered` before it is settled: a multiple acknowledgement settles every
 * delivery of the channel up to its tag, so the open ones must all be known here.
 */
export class Settlements {
  /** Per channel, the tags delivered and not settled, in the order delivered (the broker's tags ascend). */
  private readonly open = new WeakMap<Channel, Set<number>>();

  delivered(channel: Channel, msg: ConsumeMessage): void {
    let tags = this.open.get(channel);
    if (!tags) this.open.set(channel, (tags = new Set()));
    tags.add(msg.fields.deliveryTag);
  }

  /**
   * Acknowledges deliveries, or returns them to the queue, those of each channel together. On a channel closed
   * meanwhile the broker has them back already.
   */
  settle(deliveries: readonly { channel: Channel; msg: ConsumeMessage }[], how: Settle): void {
    const byChannel = new Map<Channel, ConsumeMessage[]>();
    for (const { channel, msg } of deliveries) {
      const msgs = byChannel.get(channel);
      if (msgs) msgs.push(msg);
      else byChannel.set(channel, [msg]);
    }
    for (const [channel, msgs] of byChannel) this.settleOn(channel, msgs, how);
  }

  private settleOn(channel: Channel, msgs: readonly ConsumeMessage[], how: Settle): void {
    const tags = this.open.get(channel) ?? new Set<number>();
    const last = msgs.reduce((a, b) => (b.fields.deliveryTag > a.fields.deliveryTag ? b : a));
    const upTo = last.fields.deliveryTag;
    if (how === 'ack' && msgs.length > 1 && this.onlyOpenUpTo(tags, msgs, upTo)) {
      for (const tag of tags) {
        if (tag > upTo) break;
        tags.delete(tag);
      }
      attempt(() => channel.ack(last, true));
      return;
    }
    for (const msg of msgs) {
      tags.delete(msg.fields.deliveryTag);
      attempt(() => (how === 'ack' ? channel.ack(msg) : channel.nack(msg, false, true)));
    }
  }

  /** Whether `msgs` are all the open deliveries with a tag up to `upTo`. */
  private onlyOpenUpTo(tags: ReadonlySet<number>, msgs: readonly ConsumeMessage[], upTo: number): boolean {
    const settling = new Set(msgs.map((m) => m.fields.deliveryTag));
    let open = 0;
    for (const tag of tags) {
      if (tag > upTo) break;
      if (!settling.has(tag)) return false;
      open++;
    }
    return open === settling.size;
  }
}

function attempt(settle: () => void): void {
  try {
    settle();
  } catch {
    // The channel closed meanwhile: the broker has returned its deliveries to the queue already.
  }
}
