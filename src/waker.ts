/**
 * A wake-up flag with a timed wait: `wake()` ends the current wait, or the next one if nobody is waiting,
 * so a notification that arrives while the loop is busy is not lost.
 */
export class Waker {
  private pending = false;
  private resolveWait: (() => void) | undefined;

  wake(): void {
    if (this.resolveWait) {
      const resolve = this.resolveWait;
      this.resolveWait = undefined;
      resolve();
    } else {
      this.pending = true;
    }
  }

  /** Resolves on wake(), after `ms`, or when `signal` aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.pending || signal?.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        if (this.resolveWait === finish) this.resolveWait = undefined;
        this.pending = false;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      signal?.addEventListener('abort', finish, { once: true });
      this.resolveWait = finish;
    });
  }
}

interface Lane<T, R> {
  readonly items: readonly T[];
  readonly start: (item: T) => R | Promise<R>;
  readonly results: R[];
  next: number;
  remaining: number;
  error: { value: unknown } | undefined;
  readonly resolve: (results: R[]) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * At most `size` items run at once, across every caller, started in the order they were handed in. A batch
 * hands in all its records in one call and gets one promise for their results, rather than a promise and a
 * closure per record waiting its turn: at a few microseconds per no-op execution, those were the cost.
 */
export class Slots {
  private running = 0;
  private filling = false;
  private readonly lanes: Lane<unknown, unknown>[] = [];

  constructor(private readonly size: number) {}

  /**
   * Starts `start(item)` for each item as slots free up; resolves with the results in the items' order once
   * every one has settled. If any threw or rejected, rejects with the first error, still only once all have settled.
   */
  runEach<T, R>(items: readonly T[], start: (item: T) => R | Promise<R>): Promise<R[]> {
    if (items.length === 0) return Promise.resolve([]);
    return new Promise<R[]>((resolve, reject) => {
      const lane: Lane<T, R> = { items, start, results: new Array<R>(items.length), next: 0, remaining: items.length, error: undefined, resolve, reject };
      this.lanes.push(lane as Lane<unknown, unknown>);
      this.fill();
    });
  }

  private fill(): void {
    if (this.filling) return; // an item that settled synchronously: the loop below goes on
    this.filling = true;
    try {
      while (this.running < this.size && this.lanes.length > 0) {
        const lane = this.lanes[0]!;
        const index = lane.next++;
        if (lane.next === lane.items.length) this.lanes.shift();
        this.running++;
        let result: unknown;
        try {
          result = lane.start(lane.items[index]);
        } catch (err) {
          this.settle(lane, index, undefined, { value: err });
          continue;
        }
        if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
          (result as PromiseLike<unknown>).then(
            (value) => this.settle(lane, index, value, undefined),
            (err: unknown) => this.settle(lane, index, undefined, { value: err }),
          );
        } else {
          this.settle(lane, index, result, undefined);
        }
      }
    } finally {
      this.filling = false;
    }
  }

  private settle(lane: Lane<unknown, unknown>, index: number, value: unknown, error: { value: unknown } | undefined): void {
    this.running--;
    lane.results[index] = value;
    lane.error ??= error;
    if (--lane.remaining === 0) {
      if (lane.error) lane.reject(lane.error.value);
      else lane.resolve(lane.results);
    }
    this.fill();
  }
}
