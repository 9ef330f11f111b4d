/**
 * A wake-up flag with a timed wait: `wake()` ends the current wait, or the next one if nobody is waiting,
 * so a notification that arrives while its listener is busy is not lost.
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

  /** Resolves on wake(), after `ms` (never, for Infinity), or when `signal` aborts. */
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
      // A setTimeout of Infinity would fire at once: an infinite wait has no timer.
      const timer = Number.isFinite(ms) ? setTimeout(finish, ms) : undefined;
      signal?.addEventListener('abort', finish, { once: true });
      this.resolveWait = finish;
    });
  }
}
