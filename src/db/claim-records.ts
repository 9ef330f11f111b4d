import type pg from 'pg';
import { FencedError } from '../errors.js';
import { intLiteral, textLiteral } from './literal.js';
import type { TermLockKey } from './term-lock.js';

/** A locked due record, with the latest ledger row of an attempt its row does not count yet (if any). */
export interface ClaimedRow {
  id: number;
  uid: string;
  kind: string;
  /** null when the payload, as JSON text, is larger than payloadMaxBytes (it is not loaded). */
  payload: unknown;
  payloadBytes: number;
  /** Attempts the row counts (committed outcomes). */
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  /** An attempt above `attempts` in the ledger: started, but its outcome never reached the row. */
  ledgerAttempt: number | null;
  ledgerOutcome: string | null;
  ledgerError: string | null;
}

export interface ClaimArgs {
  name: string;
  epoch: number;
  token: string;
  limit: number;
  defaultMaxAttempts: number;
  payloadMaxBytes: number;
  lockKey: TermLockKey;
}

/**
 * Opens a claim transaction on `client` and locks up to `limit` due records in it, in due order, skipping
 * locked ones. The transaction stays open: the caller executes the records, completes them and commits, so
 * each row stays locked for its whole execution and a crash frees it at once.
 *
 * One round trip, three statements, each with its own snapshot: BEGIN; the handover barrier, shared; then the
 * claim, which returns rows only while Postgres still holds this term (epoch and token). Its snapshot is taken
 * after the barrier was granted, so a newer term's epoch is seen. Zero rows while another term is stored
 * throws FencedError. The caller rolls back on any error.
 */
export async function claimRecords(client: pg.ClientBase, args: ClaimArgs): Promise<ClaimedRow[]> {
  const results = (await client.query(`
    BEGIN;
    SELECT pg_advisory_xact_lock_shared(${intLiteral(args.lockKey[0])}, ${intLiteral(args.lockKey[1])});
    ${claimStatement(client, args)}`)) as unknown as pg.QueryResult<ClaimedRow>[];
  const rows = results[2]?.rows ?? [];
  if (rows.length > 0) return rows;
  const { rows: stored } = await client.query<{ epoch: number; token: string | null }>(
    'SELECT epoch, token FROM retry_worker_leader WHERE name = $1',
    [args.name],
  );
  if (stored[0]?.epoch !== args.epoch || stored[0]?.token !== args.token)
    throw new FencedError(args.epoch, stored[0]?.epoch ?? null);
  return rows;
}

function claimStatement(client: pg.ClientBase, args: ClaimArgs): string {
  const maxBytes = intLiteral(args.payloadMaxBytes);
  return `
    SELECT r.id, r.uid, r.kind, CASE WHEN r.payload_bytes <= ${maxBytes} THEN r.payload END AS payload,
           r.payload_bytes AS "payloadBytes", r.attempts, r.max_attempts AS "maxAttempts", r.last_error AS "lastError",
           l.attempt AS "ledgerAttempt", l.outcome AS "ledgerOutcome", l.error AS "ledgerError"
    FROM (
      SELECT id, uid, kind, payload, octet_length(payload::text) AS payload_bytes, attempts,
             coalesce(max_attempts, ${intLiteral(args.defaultMaxAttempts)}) AS max_attempts, last_error, next_run_at
      FROM failed_records
      WHERE status = 'pending' AND next_run_at <= now()
        AND EXISTS (SELECT 1 FROM retry_worker_leader
                    WHERE name = ${textLiteral(client, args.name)} AND epoch = ${intLiteral(args.epoch)} AND token = ${textLiteral(client, args.token)})
      ORDER BY next_run_at, id
      LIMIT ${intLiteral(args.limit)}
      FOR UPDATE SKIP LOCKED
    ) r
    LEFT JOIN LATERAL (
      SELECT a.attempt, a.outcome, a.error
      FROM retry_worker_attempts a
      WHERE a.record_uid = r.uid AND a.attempt > r.attempts
      ORDER BY a.attempt DESC
      LIMIT 1
    ) l ON true
    ORDER BY r.next_run_at, r.id`;
}
