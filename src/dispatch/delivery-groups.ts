import type { Channel, ConsumeMessage } from 'amqplib';
import type { DispatchMessage } from './dispatch-message.js';

export interface Delivery {
  channel: Channel;
  msg: ConsumeMessage;
  message: DispatchMessage;
}

/** Waits for the rest of a burst of deliveries this long while the consumer is busy. */
export const GATHER_MS = 2;

/**
 * Dispatch mode, on a consumer: forms the groups of deliveries that are locked, executed and committed
 * together (one transaction, as a claimed batch in leader mode), and keeps at most `slots` (CONCURRENCY)
 * messages in groups whose executions have not ended. The broker may deliver up to twice that (the prefetch),
 * so that while a group waits for its slowest record, the slots its finished records gave back take new work.
 *
 *   delivered ──▶ waiting ──a slot free, and the burst gathered (at once when idle, ≤ GATHER_MS when busy)──▶
 *   in a group (holds a slot) ──its execution ended, or it will not run──▶ slot released
 *
 * A group takes as many waiting deliveries as there are free slots.
 */
export class DeliveryGroups {
  private readonly waiting: Delivery[] = [];
  private reserved = 0;
  private scheduled = false;
  private lastSettledAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly slots: number,
    private readonly run: (group: Delivery[], release: (n: number) => void) => void,
  ) {}

  add(delivery: Delivery): void {
    this.waiting.push(delivery);
    this.schedule();
  }

  /** A group's messages were acknowledged or returned: deliveries that follow soon are one burst. */
  settled(): void {
    this.lastSettledAt = performance.now();
  }

  /** Takes every waiting delivery out (to return them to the queue on stop). */
  drain(): Delivery[] {
    return this.waiting.splice(0);
  }

  /** Forms a group in the next turn of the event loop: the deliveries and releases of this one go together. */
  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      const form = () => {
        this.scheduled = false;
        this.form();
      };
      const free = this.slots - this.reserved;
      const busy = this.reserved > 0 || performance.now() - this.lastSettledAt < GATHER_MS;
      if (free > 0 && this.waiting.length < free && busy) setTimeout(form, GATHER_MS);
      else form();
    });
  }

  private form(): void {
    const free = this.slots - this.reserved;
    if (free <= 0 || this.waiting.length === 0) return;
    const group = this.waiting.splice(0, free);
    this.reserved += group.length;
    let left = group.length;
    this.run(group, (n) => {
      const released = Math.min(n, left);
      left -= released;
      this.reserved -= released;
      if (released > 0) this.schedule();
    });
  }
}
