import type { AttemptOutcome } from '../db/finish-attempts.js';

/** One finished execution, as the loop reports it. `outcome` is the record's fate (`dead`: nothing left to try). */
export interface ExecutionFinished {
  recordId: number;
  kind: string;
  attempt: number;
  epoch: number;
  outcome: AttemptOutcome;
  durationMs: number;
  error: string | null;
  /** Wall-clock time it finished (ms since the epoch). */
  finishedAt: number;
}

/** What the status page shows of one execution. */
export interface RecentExecution extends Omit<ExecutionFinished, 'finishedAt'> {
  /** Wall-clock time it finished (ISO 8601). */
  finishedAt: string;
}

const MAX_ERROR_CHARS = 300;

/** The last `capacity` executions of this replica, in memory, newest first; list() does the formatting. */
export class RecentExecutions {
  private readonly ring: (ExecutionFinished | undefined)[];
  private next = 0;

  constructor(private readonly capacity = 20) {
    this.ring = new Array<ExecutionFinished | undefined>(capacity);
  }

  add(item: ExecutionFinished): void {
    this.ring[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
  }

  list(): RecentExecution[] {
    const items: RecentExecution[] = [];
    for (let i = 1; i <= this.capacity; i++) {
      const item = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (!item) break;
      const error =
        item.error !== null && item.error.length > MAX_ERROR_CHARS
          ? `${item.error.slice(0, MAX_ERROR_CHARS)}…`
          : item.error;
      items.push({ ...item, error, finishedAt: new Date(item.finishedAt).toISOString() });
    }
    return items;
  }
}
