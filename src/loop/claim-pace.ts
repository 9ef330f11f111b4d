/** The work a claim takes, in time: about this long of the slots' recent pace (see ClaimPace). */
export const CLAIM_WORK_MS = 50;
/** The payload bytes a claim takes, about: records with large payloads are claimed fewer at a time. */
export const CLAIM_PAYLOAD_BYTES = 32 * 1024 * 1024;

const BUCKET_MS = 10;
const BUCKETS = CLAIM_WORK_MS / BUCKET_MS;

/**
 * How many records the next claim takes. A claimed record's row stays locked, and its new status waits to be
 * committed, until the last record of its batch ends; so a batch should hold about CLAIM_WORK_MS of work,
 * whatever the handlers' speed:
 *
 *   limit = records started in the last CLAIM_WORK_MS, at least 2 × CONCURRENCY, at most BATCH_SIZE,
 *           and at most CLAIM_PAYLOAD_BYTES / the mean payload of the records started last (at least CONCURRENCY);
 *           not below the previous limit halved for each CLAIM_WORK_MS since it was given
 *
 * Fast handlers get large batches (fewer statements and round trips per record); slow ones get small batches,
 * that do not hold rows for minutes. While the slots wait for a claim the count undershoots their pace, but
 * it still grows by CLAIM_WORK_MS / (the time from one claim to the next) at each claim, so a burst reaches
 * BATCH_SIZE in a few claims. The slots' pace dips when they wait for a claim; the halving keeps such a dip
 * from shrinking the next batches much, and lets the limit fall to the floor within a few CLAIM_WORK_MS of
 * the handlers becoming slow.
 */
export class ClaimPace {
  /** The loop claims again only while fewer records than this wait to start (and MAX_OPEN_BATCHES allows). */
  readonly ahead: number;
  /** Records started in each BUCKET_MS of the last CLAIM_WORK_MS, by bucket number modulo BUCKETS. */
  private readonly counts = new Array<number>(BUCKETS).fill(0);
  /** Their payloads' bytes. */
  private readonly bytes = new Array<number>(BUCKETS).fill(0);
  private bucket = 0;
  private meanPayloadBytes = 0;
  private last = { limit: 0, at: 0 };

  constructor(
    private readonly concurrency: number,
    private readonly batchSize: number,
    private readonly now: () => number,
  ) {
    this.ahead = Math.max(3 * concurrency, batchSize);
  }

  /** A record whose payload is `payloadBytes` long started. */
  started(payloadBytes: number): void {
    this.advance();
    this.counts[this.bucket % BUCKETS]!++;
    this.bytes[this.bucket % BUCKETS]! += payloadBytes;
  }

  /** The next claim's limit. */
  limit(): number {
    const now = this.now();
    this.advance();
    const recent = this.counts.reduce((sum, n) => sum + n, 0);
    if (recent > 0) this.meanPayloadBytes = this.bytes.reduce((sum, n) => sum + n, 0) / recent;
    const held = Math.floor(this.last.limit * 2 ** (-(now - this.last.at) / CLAIM_WORK_MS));
    const byPace = Math.max(2 * this.concurrency, recent, held);
    const byBytes = Math.max(this.concurrency, Math.floor(CLAIM_PAYLOAD_BYTES / Math.max(1, this.meanPayloadBytes)));
    const limit = Math.max(1, Math.min(this.batchSize, byPace, byBytes));
    this.last = { limit, at: now };
    return limit;
  }

  /** Clears the buckets that ended since the last call. */
  private advance(): void {
    const bucket = Math.floor(this.now() / BUCKET_MS);
    for (let b = Math.max(this.bucket + 1, bucket - BUCKETS + 1); b <= bucket; b++) {
      this.counts[b % BUCKETS] = 0;
      this.bytes[b % BUCKETS] = 0;
    }
    if (bucket > this.bucket) this.bucket = bucket;
  }
}
