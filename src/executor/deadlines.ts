/** What a deadline is for: `expire()` is called once when it passes. */
export interface Expiring {
  expire(): void;
}

/** One pending deadline: `target.expire()` runs once `at` (performance.now() ms) passes, unless cancelled first. */
export interface Deadline {
  readonly at: number;
  target: Expiring | undefined;
}

/** Cancelled entries are swept out of the queue once there are this many and they outnumber the live ones. */
const SWEEP_AT = 1_024;

/**
 * Deadlines that all lie the same `ms` after they are added, on one timer. Node gives every setTimeout its
 * own timer object and list bookkeeping, which cost as much as a no-op execution; here adding is a push
 * and cancelling clears a field. Because every deadline is `ms` after its add, the queue is already in
 * order: the timer only ever waits for the oldest live entry.
 */
export class Deadlines {
  private queue: Deadline[] = [];
  private head = 0;
  private cancelled = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private timerHoldsProcess = false;

  constructor(readonly ms: number) {}

  /** How many deadlines are pending (added, neither expired nor cancelled). */
  get pending(): number {
    return this.queue.length - this.head - this.cancelled;
  }

  add(target: Expiring): Deadline {
    const deadline: Deadline = { at: performance.now() + this.ms, target };
    this.queue.push(deadline);
    if (this.timer === undefined) this.schedule(deadline.at);
    else if (!this.timerHoldsProcess) this.holdProcess(true);
    return deadline;
  }

  cancel(deadline: Deadline): void {
    if (!deadline.target) return;
    deadline.target = undefined;
    this.cancelled++;
    this.dropCancelled();
    // The timer stays (executions come and go many times a millisecond; a new timer each time cost more
    // than the rest), but nothing pending must not keep the process alive.
    if (this.pending === 0 && this.timerHoldsProcess) this.holdProcess(false);
  }

  private holdProcess(hold: boolean): void {
    this.timerHoldsProcess = hold;
    if (hold) this.timer?.ref();
    else this.timer?.unref();
  }

  private dropCancelled(): void {
    while (this.head < this.queue.length && !this.queue[this.head]!.target) {
      this.head++;
      this.cancelled--;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= SWEEP_AT && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    } else if (this.cancelled >= SWEEP_AT && this.cancelled * 2 >= this.queue.length - this.head) {
      this.queue = this.queue.slice(this.head).filter((d) => d.target);
      this.head = 0;
      this.cancelled = 0;
    }
  }

  private schedule(at: number): void {
    this.stopTimer();
    this.timerAt = at;
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - performance.now()));
    this.timerHoldsProcess = true;
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.timerHoldsProcess = false;
  }

  private expire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.timerHoldsProcess = false;
    const now = performance.now();
    try {
      while (this.head < this.queue.length) {
        const deadline = this.queue[this.head]!;
        if (deadline.target && deadline.at > now) break;
        this.head++;
        const target = deadline.target;
        if (!target) {
          this.cancelled--;
          continue;
        }
        deadline.target = undefined;
        target.expire();
      }
    } finally {
      // Also after an expire() that threw: the deadlines behind it still get their timer.
      this.dropCancelled();
      // An expire() that added a deadline has scheduled the timer for it; the oldest live one may be due sooner.
      const oldest = this.queue[this.head];
      if (oldest && oldest.at < this.timerAt) this.schedule(oldest.at);
      // …and one that added a deadline another then cancelled left that timer holding the process for nothing.
      if (this.pending === 0 && this.timerHoldsProcess) this.holdProcess(false);
    }
  }
}
