import type pg from 'pg';
import { sleep } from '../async.js';
import { pruneRecords } from '../db/prune-records.js';

export interface PruneOptions {
  /** Delete succeeded records finished longer ago than this. Unset: keep them. */
  succeededOlderThanMs?: number | undefined;
  /** Delete dead, discarded and cancelled records finished longer ago than this. Unset: keep them. */
  finishedOlderThanMs?: number | undefined;
  /** Records looked at per statement (each its own short transaction). Default 500. */
  batchSize?: number | undefined;
  /** Pause between batches. Default 10 ms. */
  pauseMs?: number | undefined;
  /** Stops between batches. */
  signal?: AbortSignal | undefined;
}

export interface PruneResult {
  records: number;
  attempts: number;
  actions: number;
  batches: number;
}

/**
 * Retention: deletes finished records older than their retention, with their ledger rows and history, in
 * small batches (keyset by id, one short statement each, paced). Pending records are never deleted.
 */
export async function prune(pool: pg.Pool, options: PruneOptions): Promise<PruneResult> {
  const batchSize = options.batchSize ?? 500;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  const result: PruneResult = { records: 0, attempts: 0, actions: 0, batches: 0 };
  const succeeded = options.succeededOlderThanMs ?? null;
  const finished = options.finishedOlderThanMs ?? null;
  if (succeeded === null && finished === null) return result;
  let afterId = 0;
  while (!options.signal?.aborted) {
    const batch = await pruneRecords(pool, {
      succeededOlderThanMs: succeeded,
      finishedOlderThanMs: finished,
      afterId,
      limit: batchSize,
    });
    if (batch.lastId === null) break;
    result.batches++;
    result.records += batch.records;
    result.attempts += batch.attempts;
    result.actions += batch.actions;
    afterId = batch.lastId;
    if (batch.scanned < batchSize) break;
    await sleep(options.pauseMs ?? 10, options.signal);
  }
  return result;
}
