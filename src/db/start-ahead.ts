import type pg from 'pg';
import { CLAIM_TYPES, type ClaimArgs, claimSql, claimValues, fencedText } from './claim-records.js';
import { textLiteral } from './literal.js';
import { PreparedSql } from './prepared-sql.js';

/** A ledger row written before its record was claimed. */
export interface AttemptAhead {
  ledgerId: number;
  recordUid: string;
  attempt: number;
}

const START_AHEAD = new PreparedSql(
  'retry_worker_start_ahead',
  [...CLAIM_TYPES, 'text'],
  `INSERT INTO retry_worker_attempts (record_id, record_uid, attempt, epoch, replica_id)
   SELECT c.id, c.uid, c.attempts + 1, $2::bigint, $8::text
   FROM (${claimSql(false, false)}) c
   WHERE c."ledgerAttempt" IS NULL
   LIMIT 1
   ON CONFLICT (record_uid, attempt) DO NOTHING
   RETURNING id AS "ledgerId", record_uid AS "recordUid", attempt`,
);

/**
 * Writes the ledger row of the next attempt of the first record a claim with `args` would take now, without
 * locking it, in a transaction of its own on a connection of its own, committed; fenced as the claim is (the
 * handover barrier, shared, then the term's epoch and token), and only for a record with no attempt in the
 * ledger above its count. An idle leader sends it beside its claim, so that a record inserted at an idle leader
 * starts after one round trip instead of two (the claim, then the ledger). The caller uses the row only if its
 * claim locked that record and planned that attempt, and otherwise deletes it (discardAttempts) before it
 * claims again. Returns undefined when no record qualified, or its attempt was in the ledger already.
 */
export async function startAttemptAhead(
  pool: pg.Pool,
  args: ClaimArgs,
  replicaId: string,
): Promise<AttemptAhead | undefined> {
  const client = await pool.connect();
  try {
    const values = [...claimValues(client, { ...args, limit: 1, dispatch: undefined }), textLiteral(client, replicaId)];
    // As the claim: a new leader's barrier waits for this transaction. One round trip.
    const text = fencedText(args.lockKey, START_AHEAD, values, 'COMMIT');
    const results = await START_AHEAD.query<pg.QueryResult<AttemptAhead>[]>(client, text);
    const row = results[2]?.rows[0];
    client.release();
    return row && { ledgerId: Number(row.ledgerId), recordUid: row.recordUid, attempt: row.attempt };
  } catch (err) {
    // The transaction may still be open (and hold the barrier): the connection is closed, not reused.
    client.release(err as Error);
    throw err;
  }
}
