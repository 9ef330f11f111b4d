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

/** A counting semaphore: at most `size` functions run at once, started in FIFO order. */
export class Slots {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.size) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    }
  }
}
