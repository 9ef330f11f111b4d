/** A time this process's event loop ran nothing else: the sink's stamps of requests that arrived then are late. */
export interface LoopStall {
  /** On the sink's clock (performance.timeOrigin + performance.now()), ms. */
  from: number;
  to: number;
}

const TICK_MS = 10;
/** A tick this much later than due counts as a stall. */
const STALL_MS = 100;

/**
 * Watches this process's event loop with a timer: a tick that comes STALL_MS late marks a stall. The sink
 * runs on this loop and stamps each request when its handler runs, so across a stall it stamps late.
 */
export class LoopStalls {
  readonly stalls: LoopStall[] = [];
  private readonly timer: NodeJS.Timeout;
  private last = now();

  constructor() {
    this.timer = setInterval(() => {
      const at = now();
      if (at - this.last > TICK_MS + STALL_MS) this.stalls.push({ from: this.last, to: at });
      this.last = at;
    }, TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

const now = () => performance.timeOrigin + performance.now();
