import type { Clock } from '../clock.js';

/** How often the watch looks at the clock. */
const TICK_MS = 100;

/**
 * Notices event-loop stalls: a timer that should fire every TICK_MS and arrives much later means nothing ran
 * meanwhile (a handler that blocks, a long GC pause, a paused process). Reports a stall longer than `limitMs`,
 * once it is over. The timer does not keep the process alive.
 */
export class StallWatch {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;

  constructor(
    private readonly clock: Clock,
    private readonly limitMs: number,
    private readonly onStall: (stalledMs: number) => void,
  ) {}

  start(): void {
    if (this.timer) return;
    this.last = this.clock();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look at the clock (the timer's; tests call it directly). */
  tick(): void {
    const now = this.clock();
    const stalledMs = now - this.last - TICK_MS;
    this.last = now;
    if (stalledMs > this.limitMs) this.onStall(Math.round(stalledMs));
  }
}
