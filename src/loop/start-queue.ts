import type { Logger } from '../observability/logger.js';
import type { AttemptLedger } from './attempt-ledger.js';
import type { Entry } from './batch.js';

/**
 * Claimed records on their way to a slot, in claim order:
 *
 *   waiting ──one ledger statement per wave──▶ ready ──a slot is free──▶ started (Batch.start)
 *
 * A record starts only once its attempt is in the ledger. The ledger writes the next wave while the slots
 * work through the current one: a wave is written when fewer than CONCURRENCY records are ready, and its size
 * follows the pace, about what started while the previous wave was being written, doubled (at least
 * 2 × CONCURRENCY, at most BATCH_SIZE). So the ledger stays ahead of the slots, and a crash counts few attempts
 * that never started.
 */
export class StartQueue {
  private readonly waiting: Entry[] = [];
  private readonly ready: Entry[] = [];
  private running = 0;
  private waveInFlight = false;
  private startedSinceWave = 0;

  constructor(
    private readonly ledger: AttemptLedger,
    private readonly concurrency: number,
    private readonly maxWave: number,
    private readonly log: Logger,
  ) {}

  /** Records claimed and waiting to start (ledgered or not). */
  get length(): number {
    return this.waiting.length + this.ready.length;
  }

  push(entries: readonly Entry[]): void {
    this.waiting.push(...entries);
    this.pump();
  }

  /** A started execution ended: its slot is free. */
  finished(): void {
    this.running--;
    this.pump();
  }

  /** Every record not started yet is left alone (its row stays as it was with its batch). */
  skipAll(reason: string): void {
    for (const entry of this.waiting.splice(0)) entry.batch.skip(entry, reason);
    for (const entry of this.ready.splice(0)) entry.batch.skip(entry, reason);
  }

  private pump(): void {
    while (this.ready.length > 0 && this.running < this.concurrency) {
      const entry = this.ready.shift()!;
      this.startedSinceWave++;
      if (entry.batch.start(entry)) this.running++;
    }
    if (!this.waveInFlight && this.waiting.length > 0 && this.ready.length < this.concurrency) void this.writeWave();
  }

  private async writeWave(): Promise<void> {
    this.waveInFlight = true;
    const size = Math.min(this.maxWave, Math.max(2 * this.concurrency, 2 * this.startedSinceWave));
    this.startedSinceWave = 0;
    const wave = this.waiting.splice(0, size);
    try {
      const ids = await this.ledger.start(
        wave.map((e) => ({ recordId: e.row.id, recordUid: e.row.uid, attempt: e.attempt })),
      );
      wave.forEach((entry, i) => {
        entry.ledgerId = ids[i];
      });
      this.ready.push(...wave);
    } catch (err) {
      this.log.warn(
        { err, records: wave.length },
        'could not record attempts; their records are left for a later claim',
      );
      for (const entry of wave) entry.batch.skip(entry, 'ledger-failed');
    } finally {
      this.waveInFlight = false;
    }
    this.pump();
  }
}
