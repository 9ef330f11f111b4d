import type { Logger } from '../observability/logger.js';
import type { SkipReason } from '../observability/metrics.js';
import type { AttemptLedger } from './attempt-ledger.js';
import type { Entry } from './batch.js';
import type { ClaimPace } from './claim-pace.js';
import type { KindLimits } from './kind-limits.js';

/**
 * Claimed records on their way to a slot, in claim order:
 *
 *   waiting ──one ledger statement per wave──▶ ready ──a slot is free, and the kind's limits allow──▶ started
 *
 * A record starts only once its attempt is in the ledger. The ledger writes the next wave while the slots
 * work through the current one: a wave is written when fewer than CONCURRENCY records are ready, and its size
 * follows the pace, about what started while the previous wave was being written, doubled (at least
 * 2 × CONCURRENCY, at most BATCH_SIZE). So the ledger stays ahead of the slots, and a crash counts few attempts
 * that never started. A kind at its concurrency or rate limit is set aside (parked), in order, without holding
 * up the other kinds, and no more of it is recorded ahead than may start.
 */
export class StartQueue {
  private readonly waiting = new Fifo<Entry>();
  private readonly ready = new Fifo<Entry>();
  /** Entries of kinds at their limit, oldest first: tried before the queues behind them. */
  private parkedWaiting: Entry[] = [];
  private parkedReady: Entry[] = [];
  private waveInFlight = false;
  private startedSinceWave = 0;
  private tokenTimer: NodeJS.Timeout | undefined;
  /** When the token timer fires (performance.now()); a kind whose token comes sooner sets it sooner. */
  private tokenTimerAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly ledger: AttemptLedger,
    private readonly limits: KindLimits,
    private readonly log: Logger,
    /** Told of every execution's start and end (it sizes the claims); it counts the running executions. */
    private readonly pace: ClaimPace,
    /**
     * A record started, or an execution ended: the loop may have room to claim again. `capFreed`: the execution's
     * kind had its whole cap claimed, and has room again (KindLimits.roomAgain).
     */
    private readonly onRoom: (capFreed: boolean) => void,
  ) {}

  /** Records claimed and waiting to start (ledgered or not). */
  get length(): number {
    return this.waiting.length + this.ready.length + this.parkedWaiting.length + this.parkedReady.length;
  }

  /** Claimed records; those in `recorded` have their attempt in the ledger already (ledgerId set). */
  push(entries: readonly Entry[], recorded: readonly Entry[] = []): void {
    for (const entry of recorded) {
      this.limits.queued(entry.kind.name, 1);
      this.limits.recorded(entry.kind.name, 1);
      this.ready.push(entry);
    }
    for (const entry of entries) {
      this.limits.queued(entry.kind.name, 1);
      this.waiting.push(entry);
    }
    this.pump();
  }

  /** A started execution of `kind` ended: its slot is free. */
  finished(kind: string): void {
    this.pace.finished();
    this.limits.finished(kind);
    this.onRoom(this.limits.roomAgain(kind));
    this.pump();
  }

  /** Every record not started yet is left alone (its row stays as it was with its batch). */
  skipAll(reason: SkipReason): void {
    clearTimeout(this.tokenTimer);
    this.tokenTimer = undefined;
    this.tokenTimerAt = Number.POSITIVE_INFINITY;
    const waiting = [...this.parkedWaiting, ...this.waiting.drain()];
    const ready = [...this.parkedReady, ...this.ready.drain()];
    this.parkedWaiting = [];
    this.parkedReady = [];
    for (const entry of waiting) this.dequeued(entry, false, reason);
    for (const entry of ready) this.dequeued(entry, true, reason);
  }

  private pump(): void {
    // The soonest token of a kind refused for its rate; a kind at its concurrency limit waits for a finish.
    let tokenInMs = Number.POSITIVE_INFINITY;
    if (this.parkedReady.length > 0) {
      const parked = this.parkedReady;
      this.parkedReady = [];
      for (const entry of parked) {
        const wait = this.pace.running < this.pace.concurrency ? this.tryStart(entry) : Number.POSITIVE_INFINITY;
        if (wait > 0) {
          this.parkedReady.push(entry);
          tokenInMs = Math.min(tokenInMs, wait);
        }
      }
    }
    while (this.pace.running < this.pace.concurrency && this.ready.length > 0) {
      const entry = this.ready.shift()!;
      const wait = this.tryStart(entry);
      if (wait > 0) {
        this.parkedReady.push(entry);
        tokenInMs = Math.min(tokenInMs, wait);
      }
    }
    const tokenAt = performance.now() + tokenInMs;
    if (tokenAt < this.tokenTimerAt) {
      clearTimeout(this.tokenTimer);
      this.tokenTimerAt = tokenAt;
      this.tokenTimer = setTimeout(() => {
        this.tokenTimer = undefined;
        this.tokenTimerAt = Number.POSITIVE_INFINITY;
        this.pump();
      }, tokenInMs);
    }
    const waiting = this.waiting.length + this.parkedWaiting.length;
    if (!this.waveInFlight && waiting > 0 && this.ready.length < this.pace.concurrency) void this.writeWave();
  }

  /** Starts the entry if its kind's limits allow now (returns 0); else returns how long until they may. */
  private tryStart(entry: Entry): number {
    const wait = this.limits.waitToStart(entry.kind);
    if (wait === 0) this.start(entry);
    return wait;
  }

  private start(entry: Entry): void {
    this.startedSinceWave++;
    this.limits.queued(entry.kind.name, -1);
    this.limits.recorded(entry.kind.name, -1);
    if (entry.batch.start(entry)) {
      this.pace.started(entry.row.payloadBytes);
      this.limits.started(entry.kind.name);
    }
    // A start frees no cap (its kind's concurrency and tokens count it as it leaves the queue), but maybe room.
    this.onRoom(false);
  }

  private async writeWave(): Promise<void> {
    const { concurrency, batchSize } = this.pace;
    const size = Math.min(batchSize, Math.max(2 * concurrency, 2 * this.startedSinceWave));
    const wave: Entry[] = [];
    const take = (entry: Entry): boolean => {
      if (!this.limits.mayRecord(entry.kind)) return false;
      this.limits.recorded(entry.kind.name, 1);
      wave.push(entry);
      return true;
    };
    if (this.parkedWaiting.length > 0) {
      const parked = this.parkedWaiting;
      this.parkedWaiting = [];
      for (const entry of parked) if (wave.length >= size || !take(entry)) this.parkedWaiting.push(entry);
    }
    while (wave.length < size && this.waiting.length > 0) {
      const entry = this.waiting.shift()!;
      if (!take(entry)) this.parkedWaiting.push(entry);
    }
    if (wave.length === 0) return;
    this.waveInFlight = true;
    this.startedSinceWave = 0;
    try {
      const ids = await this.ledger.start(
        wave.map((e) => ({ recordId: e.row.id, recordUid: e.row.uid, attempt: e.attempt })),
      );
      wave.forEach((entry, i) => {
        entry.ledgerId = ids[i];
        this.ready.push(entry);
      });
    } catch (err) {
      this.log.warn(
        { err, records: wave.length },
        'could not record attempts; their records are left for a later claim',
      );
      for (const entry of wave) this.dequeued(entry, true, 'ledger-failed');
    } finally {
      this.waveInFlight = false;
    }
    this.pump();
  }

  private dequeued(entry: Entry, recorded: boolean, reason: SkipReason): void {
    this.limits.queued(entry.kind.name, -1);
    if (recorded) this.limits.recorded(entry.kind.name, -1);
    entry.batch.skip(entry, reason);
  }
}

/** A first-in first-out queue with O(1) push and shift (an array and a head index, compacted now and then). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes and returns every item, in order. */
  drain(): T[] {
    const items = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return items;
  }
}
