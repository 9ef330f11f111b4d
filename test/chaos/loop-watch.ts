/** A time this process's event loop ran nothing else: the sink's stamps of requests that arrived then are late. */
export interface LoopStall {
  /** On the sink's clock (performance.timeOrigin + performance.now()), ms. */
  from: number;
  to: number;
}

const TICK_MS = 10;
/** A tick this much later than due counts as a stall. */
const STALL_MS = 100;
/** The wall clock's offset from the sink's clock is sampled again once it moved this much (Date.now() is whole ms). */
const OFFSET_MOVE_MS = 2;

/**
 * Watches this process's event loop with a timer, for two things the sink's stamps depend on:
 * - stalls: a tick STALL_MS late. The sink runs on this loop and stamps each request when its handler runs, so
 *   across a stall it stamps late.
 * - the wall clock against the sink's (monotonic) clock: Postgres stamps terms by the wall clock, so each sink
 *   stamp is mapped to wall time by the offset in force when it was taken (toWall), which stays right if the
 *   wall clock is stepped or slewed during a run.
 */
export class LoopWatch {
  readonly stalls: LoopStall[] = [];
  /** Wall-clock ms minus the sink's clock, from `at` (the sink's clock) on. */
  readonly offsets: { at: number; offset: number }[] = [];
  private readonly timer: NodeJS.Timeout;
  private last = now();

  constructor() {
    this.sampleOffset(this.last);
    this.timer = setInterval(() => {
      const at = now();
      if (at - this.last > TICK_MS + STALL_MS) this.stalls.push({ from: this.last, to: at });
      this.last = at;
      this.sampleOffset(at);
    }, TICK_MS);
    this.timer.unref();
  }

  /** A time on the sink's clock as wall-clock ms, by the offset sampled last before it. */
  toWall(t: number): number {
    let offset = this.offsets[0]!.offset;
    for (const s of this.offsets) {
      if (s.at > t) break;
      offset = s.offset;
    }
    return t + offset;
  }

  /** How far the wall clock moved against the sink's clock while watched, in ms (0: not measurably). */
  get wallDriftMs(): number {
    const first = this.offsets[0]!.offset;
    return Math.round(this.offsets[this.offsets.length - 1]!.offset - first);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sampleOffset(now());
  }

  private sampleOffset(at: number): void {
    const offset = Date.now() - at;
    const last = this.offsets[this.offsets.length - 1];
    if (!last || Math.abs(offset - last.offset) >= OFFSET_MOVE_MS) this.offsets.push({ at, offset });
  }
}

const now = () => performance.timeOrigin + performance.now();
