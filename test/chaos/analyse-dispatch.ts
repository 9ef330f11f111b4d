import type pg from 'pg';

/*
 * What the chaos checks mean in dispatch mode (EXECUTION_MODE=dispatch): the elected leader marks due records
 * and publishes one message each to a quorum queue; every replica (the leader too) consumes, locks the
 * message's row FOR UPDATE SKIP LOCKED, writes the attempt to the ledger, runs the handler, commits the
 * outcome, and only then acknowledges the message.
 *
 * - overlaps (invariant 1): unchanged, and the check dispatch mode lives by. A message comes again while its
 *   record may still run elsewhere: the broker redelivers a consumer's unacknowledged messages when its
 *   connection ends (kill -9, a cut link), and a new leader publishes at once every mark an earlier term left.
 *   Only the row lock, held for the whole execution, keeps those copies from running: they find no row, and go
 *   back to the queue while the record is still due under their token (else they are dropped).
 * - term overlaps: only its half about epochs, two epochs' executions in progress at once. A consumer takes
 *   the handover barrier shared for the whole execution and sends the epoch Postgres holds as its fencing
 *   token, so a new leader's fence waits for every execution of the old epoch on every replica. Two replicas
 *   executing under one epoch is what dispatch mode does on purpose: not counted.
 * - stale-term starts: unchanged, and it holds every consumer to it, not only the dispatching leader: a
 *   consumer's token is read under the barrier, so no request of an older epoch may start after a newer term
 *   was fenced (a paused consumer's handler finds its rows uncertain and must not write).
 * - lost, over max_attempts, ledger duplicates, succeeded then dead: unchanged, per record. A consumer's crash
 *   must still count its attempt (the ledger row is written before the handler runs).
 * - stranded (dispatch mode only): the outside view of "a message is acknowledged only after its record's
 *   outcome is committed". A message acknowledged early and then lost with its consumer leaves the record
 *   pending and marked as in flight (dispatched_at); only the leader's sweep for lost messages finds it, after
 *   DISPATCH_REDELIVER_AFTER_MS (2 min by default). Nothing is lost in the end, but its message was. So a
 *   pending record whose mark is older than STRANDED_AFTER_MS, seen while the run goes on, is a violation.
 *   (At most BATCH_SIZE messages are in flight and every replica consumes, so a message that exists is taken
 *   within seconds; the longest execution in the mix is a second.)
 */

/**
 * Half the default DISPATCH_REDELIVER_AFTER_MS (2 min): a record whose message was lost keeps its mark that
 * long, until the leader's sweep; any message that exists is consumed far sooner (the longest fault lasts
 * 3 × TTL = 15 s, then a failover).
 */
export const STRANDED_AFTER_MS = 60_000;

export interface Stranded {
  /** Records seen pending with a mark older than STRANDED_AFTER_MS. */
  count: number;
  /** The oldest mark of a pending record seen (the longest a message was outstanding), in ms. */
  oldestMarkMs: number;
  notes: string[];
}

/**
 * Looks every second, while a dispatch run goes on, for pending records whose dispatch mark is older than
 * STRANDED_AFTER_MS (see above). Reads only: it takes no lock, so it cannot change what it watches. Marked
 * pending records are few (at most BATCH_SIZE in flight, and any stranded ones): it reads them all.
 */
export class StrandedWatch {
  private readonly stranded = new Map<number, number>();
  private oldestMs = 0;
  private readonly timer: NodeJS.Timeout;
  private looking: Promise<void> = Promise.resolve();
  private stopped: Promise<Stranded> | undefined;

  constructor(private readonly pool: pg.Pool) {
    this.timer = setInterval(() => {
      this.looking = this.look().catch(() => undefined); // Postgres down a moment: look again next time
    }, 1_000);
  }

  /** Stops looking after a last look, and says what it saw. Once: a second call gets the same answer. */
  stop(): Promise<Stranded> {
    this.stopped ??= this.finish();
    return this.stopped;
  }

  private async finish(): Promise<Stranded> {
    clearInterval(this.timer);
    await this.looking;
    await this.look().catch(() => undefined);
    return {
      count: this.stranded.size,
      oldestMarkMs: Math.round(this.oldestMs),
      notes: [...this.stranded]
        .slice(0, 3)
        .map(([id, ms]) => `record ${id} pending with a mark ${Math.round(ms)} ms old (its message lost?)`),
    };
  }

  private async look(): Promise<void> {
    const { rows } = await this.pool.query<{ id: number; age: number }>(
      `SELECT id, extract(epoch FROM clock_timestamp() - dispatched_at) * 1000 AS age FROM failed_records
       WHERE status = 'pending' AND dispatched_at IS NOT NULL`,
    );
    for (const r of rows) {
      const [id, age] = [Number(r.id), Number(r.age)];
      this.oldestMs = Math.max(this.oldestMs, age);
      if (age > STRANDED_AFTER_MS) this.stranded.set(id, Math.max(age, this.stranded.get(id) ?? 0));
    }
  }
}
