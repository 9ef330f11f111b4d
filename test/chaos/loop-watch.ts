/**
 * A time this process's event loop ran late: the sink's stamps of requests that arrived then are late. Times on
 * the sink's clock (performance.timeOrigin + performance.now()), ms.
 */
export interface LoopStall {
  /** When a tick was due and the loop did not run it: blocked from here (or up to TICK_MS earlier). */
  from: number;
  /** The late tick, or the last of a run of late ticks (the loop's backlog after a block can make more). */
  to: number;
  /** The first tick on time again: requests queued across the stall have been stamped by then. */
  calmAt?: number;
}

const TICK_MS = 10;
/** A tick this much later than due counts as a stall. */
const STALL_MS = 100;
/** A tick at most this much later than due is on time. */
const CALM_MS = 20;
/** The wall clock's offset from the sink's clock is sampled again once it moved this much (Date.now() is whole ms). */
const OFFSET_MOVE_MS = 2;

/**
 * Watches this process's event loop with a timer, for two things the sink's stamps depend on:
 * - stalls: ticks STALL_MS late, until one is on time again. The sink runs on this loop and stamps each request
 *   when its handler runs, so across a stall it stamps late.
 * - the wall clock against the sink's monotonic clock: Postgres stamps terms by the wall clock, so each sink
 *   stamp is mapped to wall time by the offset in force when it was taken (toWall). Linux slews both clocks
 *   alike, so what moves the offset is a step of the wall clock (settimeofday, a clock sync stepping it).
 */
export class LoopWatch {
  readonly stalls: LoopStall[] = [];
  /** Wall-clock ms minus the sink's clock, from `at` (the sink's clock) on. */
  readonly offsets: { at: number; offset: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private last = 0;

  start(): void {
    this.last = now();
    this.sampleOffset(this.last);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.sampleOffset(now());
  }

  /** A time on the sink's clock as wall-clock ms, by the offset sampled last before it. */
  toWall(t: number): number {
    let offset = this.offsets[0]?.offset ?? Date.now() - now();
    for (const s of this.offsets) {
      if (s.at > t) break;
      offset = s.offset;
    }
    return t + offset;
  }

  /** The stalls in wall-clock ms (as Postgres's and the replicas' times). */
  wallStalls(): LoopStall[] {
    const wall = (t: number) => this.toWall(t);
    return this.stalls.map((s) => ({
      from: wall(s.from),
      to: wall(s.to),
      ...(s.calmAt !== undefined ? { calmAt: wall(s.calmAt) } : {}),
    }));
  }

  /** How far the wall clock's offset ranged while watched, in ms (0: it did not move measurably). */
  get wallDriftMs(): number {
    const offsets = this.offsets.map((s) => s.offset);
    return offsets.length === 0 ? 0 : Math.round(Math.max(...offsets) - Math.min(...offsets));
  }

  private tick(): void {
    const at = now();
    const late = at - this.last - TICK_MS;
    const open = this.stalls[this.stalls.length - 1];
    const troubled = open !== undefined && open.calmAt === undefined;
    if (late > STALL_MS) {
      if (troubled) open.to = at;
      else this.stalls.push({ from: this.last + TICK_MS, to: at });
    } else if (troubled && late <= CALM_MS) open.calmAt = at;
    this.last = at;
    this.sampleOffset(at);
  }

  private sampleOffset(at: number): void {
    const offset = Date.now() - at;
    const last = this.offsets[this.offsets.length - 1];
    if (!last || Math.abs(offset - last.offset) >= OFFSET_MOVE_MS) this.offsets.push({ at, offset });
  }
}

const now = () => performance.timeOrigin + performance.now();
