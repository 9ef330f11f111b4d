import type pg from 'pg';
import { FencedError } from '../errors.js';
import type { TermLockKey } from './term-lock.js';
import { intLiteral } from './int-literal.js';

export interface ClaimedRecord {
  id: number;
  kind: string;
  payload: unknown;
  /** Attempts recorded on the row before this claim. */
  attempts: number;
  maxAttempts: number;
}

export interface ClaimArgs {
  name: string;
  epoch: number;
  limit: number;
  defaultMaxAttempts: number;
  lockKey: TermLockKey;
}

/**
 * Opens a claim transaction on `client` and locks up to `limit` due records in it. The transaction stays
 * open: the caller executes the records, completes them and commits, so each row stays locked for its whole
 * execution and a crash frees it at once.
 *
 * First the barrier (shared), then, in a later statement so that its snapshot sees any newer epoch, the
 * claim, which returns rows only while the stored epoch is still ours. Zero rows with another epoch stored
 * throws FencedError. The caller rolls back on any error.
 *
 * BEGIN, the barrier and the claim go in one round trip, as one simple query: each statement of it still
 * takes its own snapshot. Its values are numbers we checked and the election name, quoted by pg.
 */
export async function claimRecords(client: pg.ClientBase, args: ClaimArgs): Promise<ClaimedRecord[]> {
  const [lockA, lockB] = args.lockKey;
  const results = (await client.query(`
    BEGIN;
    SELECT pg_advisory_xact_lock_shared(${intLiteral(lockA)}, ${intLiteral(lockB)});
    ${dueRecords(client, args, `id, kind, payload, attempts, coalesce(max_attempts, ${intLiteral(args.defaultMaxAttempts)}) AS "maxAttempts"`)}`)) as unknown as pg.QueryResult<ClaimedRecord>[];
  const rows = results[2]!.rows;
  if (rows.length > 0) return rows;
  const stored = await client.query<{ epoch: number }>({
    name: 'retry-worker.stored-epoch',
    text: 'SELECT epoch FROM retry_worker_leader WHERE name = $1',
    values: [args.name],
  });
  const storedEpoch = stored.rows[0]?.epoch ?? null;
  if (storedEpoch !== args.epoch) throw new FencedError(args.epoch, storedEpoch);
  return rows;
}

/**
 * The claim's query: up to `limit` due records, in due order, locked and skipping locked ones, returned only
 * while the stored epoch is `epoch` (the fence). Its values are numbers we checked and the election name,
 * quoted by pg. Shared with claimAndStartAttempts, so that the two claims fence alike.
 */
export function dueRecords(client: pg.ClientBase, args: ClaimArgs, columns: string): string {
  return `
    SELECT ${columns}
    FROM failed_records
    WHERE status = 'pending' AND next_run_at <= now()
      AND EXISTS (SELECT 1 FROM retry_worker_leader WHERE name = ${client.escapeLiteral(args.name)} AND epoch = ${intLiteral(args.epoch)})
    ORDER BY next_run_at, id
    LIMIT ${intLiteral(args.limit)}
    FOR UPDATE SKIP LOCKED`;
}
