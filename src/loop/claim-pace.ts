/** The work a claim takes, in time: about this long of what the slots can do (see ClaimPace). */
export const CLAIM_WORK_MS = 50;
/** The payload bytes a claim takes, about: records with large payloads are claimed fewer at a time. */
export const CLAIM_PAYLOAD_BYTES = 32 * 1024 * 1024;
/** How fast the estimate of an execution's time forgets: what happened this long ago counts half. */
const HALF_LIFE_MS = 1_000;

/**
 * How many records the next claim takes. A claimed record's row stays locked, and its new status waits to be
 * committed, until the last record of its batch ends; so a batch should hold about CLAIM_WORK_MS of work,
 * whatever the handlers' speed:
 *
 *   limit = CONCURRENCY × CLAIM_WORK_MS / the mean time of an execution, at least 2 × CONCURRENCY,
 *           at most BATCH_SIZE, and at most CLAIM_PAYLOAD_BYTES / the mean payload (never below CONCURRENCY)
 *
 * The mean time is the slots' busy time over the executions that ended (Little's law), both decaying with a
 * half-life of HALF_LIFE_MS; executions still running count their time so far, so handlers that turn slow
 * shrink the next claim before they end. It is what the slots can do, not what they did: slots that wait for
 * a claim (a distant or busy database) do not make the claims smaller. With nothing measured yet (a new term)
 * a claim takes 2 × CONCURRENCY. The mean payload is the larger of the last claim's and the records started
 * lately. Fast handlers get large batches (fewer statements and round trips per record); slow ones get
 * batches of twice the slots, that do not hold rows for minutes.
 */
export class ClaimPace {
  /** The loop claims again only while fewer records than this wait to start (and MAX_OPEN_BATCHES allows). */
  readonly ahead: number;
  /** Executions running now. */
  private runningNow = 0;
  /** Slot time spent executing, in ms, and executions ended: both decayed. */
  private busyMs = 0;
  private ended = 0;
  private at: number;
  private startedPayloadBytes = 0;
  private claimedPayloadBytes = 0;

  constructor(
    readonly concurrency: number,
    readonly batchSize: number,
    private readonly now: () => number,
  ) {
    this.ahead = Math.max(3 * concurrency, batchSize);
    this.at = now();
  }

  get running(): number {
    return this.runningNow;
  }

  /** An execution of a record whose payload is `payloadBytes` long started. */
  started(payloadBytes: number): void {
    this.advance();
    this.runningNow++;
    this.startedPayloadBytes += (payloadBytes - this.startedPayloadBytes) / 16;
  }

  /** An execution ended. */
  finished(): void {
    this.advance();
    this.runningNow--;
    this.ended++;
  }

  /** A claim took these records (none: it says nothing of their payloads). */
  claimed(records: readonly { payloadBytes: number }[]): void {
    if (records.length === 0) return;
    this.claimedPayloadBytes = records.reduce((sum, r) => sum + r.payloadBytes, 0) / records.length;
  }

  /** The next claim's limit. */
  limit(): number {
    this.advance();
    const floor = 2 * this.concurrency;
    const byTime =
      this.ended > 0 ? Math.ceil((this.concurrency * CLAIM_WORK_MS) / Math.max(this.busyMs / this.ended, 1e-3)) : floor;
    const payload = Math.max(1, this.startedPayloadBytes, this.claimedPayloadBytes);
    const byBytes = Math.max(this.concurrency, Math.floor(CLAIM_PAYLOAD_BYTES / payload));
    return Math.min(this.batchSize, Math.max(floor, byTime), byBytes);
  }

  /** Adds the running executions' time since the last event, and decays what came before. */
  private advance(): void {
    const now = this.now();
    const elapsed = now - this.at;
    if (elapsed <= 0) return;
    const keep = 2 ** (-elapsed / HALF_LIFE_MS);
    this.busyMs = this.busyMs * keep + this.runningNow * elapsed;
    this.ended *= keep;
    this.at = now;
  }
}
