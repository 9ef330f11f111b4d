import type pg from 'pg';
import { sleep } from '../async.js';
import type { RecordStatus } from '../db/complete-records.js';
import { checkIds, type MoveAction, moveRecords, notifyDue, type RecordSelector } from '../db/move-records.js';
import { defaultActor } from './actor.js';

export type { RecordSelector } from '../db/move-records.js';

export interface MoveOptions {
  /** Who does it (kept in the record's history); default user@host. */
  actor?: string | undefined;
  /** Why (kept in the record's history). */
  reason?: string | undefined;
  /** Count what would be moved; change nothing. */
  dryRun?: boolean | undefined;
  /** Rows per statement (each its own short transaction). Default 1,000. */
  batchSize?: number | undefined;
  /** Pause between batches, so that a large requeue leaves the database room for the drain. Default 10 ms. */
  pauseMs?: number | undefined;
  /** Stops between batches (the batches done stay done). */
  signal?: AbortSignal | undefined;
}

export interface MoveResult {
  action: MoveAction;
  dryRun: boolean;
  /** Rows that matched the selector. */
  matched: number;
  /** Rows moved (dry run: that would be). */
  moved: number;
  /** Matching rows left alone because a claim holds them (executing now): how many, and the first 100 ids. */
  skippedCount: number;
  skipped: number[];
  /** `ids` of the selector that do not exist. */
  unknownIds: number[];
  /** `ids` of the selector whose record is in a status the selector does not take. */
  otherStatus: { id: number; status: RecordStatus }[];
  batches: number;
}

const REPORTED_SKIPS = 100;

/** The statuses each action may move a record out of. */
export const MOVABLE: Record<MoveAction, readonly RecordStatus[]> = {
  requeue: ['dead', 'discarded', 'cancelled', 'succeeded', 'pending'],
  discard: ['dead', 'pending', 'cancelled'],
};

/**
 * An operator action over every record the selector matches, in batches: each batch one statement (its own
 * short transaction), keyset-paginated by id, with a pause between batches. Memory stays bounded whatever
 * the number of rows; no lock outlives its batch. A record a claim holds (executing) is never touched: it is
 * counted in `skipped`.
 */
export async function moveSelected(
  pool: pg.Pool,
  action: MoveAction,
  selector: RecordSelector,
  options: MoveOptions = {},
): Promise<MoveResult> {
  const batchSize = options.batchSize ?? 1_000;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  const refused = selector.statuses.filter((s) => !MOVABLE[action].includes(s));
  if (refused.length > 0 || selector.statuses.length === 0)
    throw new RangeError(`${action} takes records in status ${MOVABLE[action].join(', ')}; not ${refused.join(', ')}`);
  const result: MoveResult = {
    action,
    dryRun: options.dryRun === true,
    matched: 0,
    moved: 0,
    skippedCount: 0,
    skipped: [],
    unknownIds: [],
    otherStatus: [],
    batches: 0,
  };
  if (selector.ids) Object.assign(result, await checkIds(pool, selector.ids, selector.statuses));
  const actor = options.actor ?? defaultActor();
  let afterId = 0;
  while (!options.signal?.aborted) {
    const batch = await moveRecords(pool, {
      action,
      selector,
      afterId,
      limit: batchSize,
      actor,
      reason: options.reason ?? null,
      dryRun: result.dryRun,
    });
    if (batch.lastId === null) break;
    result.batches++;
    result.matched += batch.matched;
    result.moved += batch.moved;
    result.skippedCount += batch.skipped.length;
    result.skipped.push(...batch.skipped.slice(0, REPORTED_SKIPS - result.skipped.length));
    afterId = batch.lastId;
    if (batch.matched < batchSize) break;
    await sleep(options.pauseMs ?? 10, options.signal);
  }
  if (action === 'requeue' && !result.dryRun && result.moved > 0) await notifyDue(pool);
  return result;
}

/**
 * Sets the selected records (default: dead ones) back to pending, due now, with a fresh attempt budget: the
 * attempts made so far are kept, and the record may make its max attempts again. Executing records are skipped.
 */
export function requeue(pool: pg.Pool, selector: Partial<RecordSelector>, options?: MoveOptions): Promise<MoveResult> {
  return moveSelected(pool, 'requeue', { ...selector, statuses: selector.statuses ?? ['dead'] }, options);
}

/** Marks the selected records (default: dead ones) discarded, a final state, keeping their history. */
export function discard(pool: pg.Pool, selector: Partial<RecordSelector>, options?: MoveOptions): Promise<MoveResult> {
  return moveSelected(pool, 'discard', { ...selector, statuses: selector.statuses ?? ['dead'] }, options);
}
