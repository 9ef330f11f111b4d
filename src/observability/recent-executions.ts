export type ExecutionOutcomeLabel = 'succeeded' | 'failed' | 'dead' | 'skipped';

/** What the status page shows of one execution. */
export interface RecentExecution {
  /** Wall-clock time it finished (ISO 8601). */
  finishedAt: string;
  recordId: number;
  kind: string;
  attempt: number;
  epoch: number;
  outcome: ExecutionOutcomeLabel;
  durationMs: number;
  /** The error's message, cut to a few hundred characters; null on success or skip. */
  error: string | null;
}

const MAX_ERROR_CHARS = 300;

/** The last `capacity` executions of this replica, in memory, newest first. */
export class RecentExecutions {
  private readonly items: RecentExecution[] = [];

  constructor(private readonly capacity = 20) {}

  add(item: RecentExecution): void {
    const error = item.error !== null && item.error.length > MAX_ERROR_CHARS ? `${item.error.slice(0, MAX_ERROR_CHARS)}…` : item.error;
    this.items.unshift({ ...item, error });
    if (this.items.length > this.capacity) this.items.length = this.capacity;
  }

  list(): readonly RecentExecution[] {
    return [...this.items];
  }
}
