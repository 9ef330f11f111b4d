import type pg from 'pg';
import { sleep } from '../async.js';
import { requestCancel, tryCancelRecord } from '../db/cancel-record.js';
import type { RecordStatus } from '../db/complete-records.js';
import { defaultActor } from './actor.js';

export interface CancelOptions {
  actor?: string | undefined;
  reason?: string | undefined;
  /** How long to wait for the leader to abort an executing record. Default 10 s. */
  waitMs?: number | undefined;
}

/**
 * - cancelled: it was pending and no claim held it; it is cancelled now
 * - aborted: it was executing; the leader aborted its handler (reason `cancelled`) and the record is cancelled
 * - not-found: no such record
 * - final: it had already ended (`status`); nothing to cancel
 * - finished: it was executing and ended otherwise before the cancel reached it (`status`)
 * - still-executing: the leader was told, but the record was still held when the wait ended
 */
export type CancelResult =
  | { recordId: number; outcome: 'cancelled' | 'aborted' | 'not-found' | 'still-executing' }
  | { recordId: number; outcome: 'final' | 'finished'; status: RecordStatus };

const RETRY_MS = 100;
const NOTIFY_EVERY_MS = 1_000;

/**
 * Cancels a record. A pending record no claim holds becomes `cancelled` at once. A record a claim holds is
 * executing (or about to start): the leader is told by NOTIFY, aborts its handler's signal with reason
 * `cancelled`, and the attempt and the record end cancelled. Until the wait ends this tries again (the record
 * may have been released meanwhile, say its attempt failed) and repeats the NOTIFY every second, in case the
 * leader changed. Nothing here ever touches a row a claim holds.
 */
export async function cancel(pool: pg.Pool, recordId: number, options: CancelOptions = {}): Promise<CancelResult> {
  const actor = options.actor ?? defaultActor();
  const reason = options.reason ?? null;
  const deadline = Date.now() + (options.waitMs ?? 10_000);
  let requestedAt: number | undefined;
  for (;;) {
    const found = await tryCancelRecord(pool, recordId, actor, reason);
    if (!found.found) return { recordId, outcome: 'not-found' };
    if (found.cancelled) return { recordId, outcome: 'cancelled' };
    if (found.status !== 'pending') {
      if (requestedAt === undefined) return { recordId, outcome: 'final', status: found.status };
      return found.status === 'cancelled'
        ? { recordId, outcome: 'aborted' }
        : { recordId, outcome: 'finished', status: found.status };
    }
    if (Date.now() >= deadline) return { recordId, outcome: 'still-executing' };
    if (requestedAt === undefined || Date.now() - requestedAt >= NOTIFY_EVERY_MS) {
      await requestCancel(pool, recordId, actor, reason, requestedAt === undefined);
      requestedAt = Date.now();
    }
    await sleep(RETRY_MS);
  }
}
