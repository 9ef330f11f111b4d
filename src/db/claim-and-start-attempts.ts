import type pg from 'pg';
import { FencedError } from '../errors.js';
import { dueRecords, type ClaimArgs, type ClaimedRecord } from './claim-records.js';
import { intLiteral } from './int-literal.js';
import { LATEST_UNSETTLED_ATTEMPT, RUNNABLE, toPlan, type AttemptPlan, type PlanRow } from './start-attempts.js';

export interface ClaimAndStartArgs extends ClaimArgs {
  /** Written into each attempt's ledger row. */
  replicaId: string;
}

export interface StartedClaim {
  /** Locked by the open claim transaction, in due order. */
  records: ClaimedRecord[];
  /** The plan of each of `records`, index for index. */
  plans: AttemptPlan[];
  /**
   * Planned, but changed or locked by someone else between the ledger write and the lock (an operator's
   * UPDATE, or `status`'s brief lock): not ours to run or complete. Their `run` attempts must be marked
   * skipped before they can be claimed again, or the next claim would count them.
   */
  unlocked: AttemptPlan[];
}

/** Where the claim hands the claimed ids to the statement that locks them again (a session setting). */
const CLAIMED_SETTING = 'retry_worker.claimed';

/**
 * Index scans only, for the claim's own transactions (SET LOCAL): a prepared statement keeps its plan until
 * the tables' statistics change, and a plan made while a table was empty (a new deployment, whose tables are
 * analyzed at zero rows) scans the whole table, and stays the plan until autovacuum analyzes the table
 * again, a minute or more later. Measured: the ledger lookup as a sequential scan per claimed record made
 * claims of 500 take 100-240 ms on a 5,000-row ledger. Every index scan here is right at any table size.
 */
export const INDEX_SCANS_ONLY = `set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)`;

/**
 * Claims up to `limit` due records, writes their attempts to the ledger and leaves the records locked in an
 * open claim transaction on `client`, all in one round trip: claimRecords and startAttempts, with one round
 * trip less between a due record and its handler. The retry loop takes it when no batch is open (a record
 * that arrives at an idle leader); while batches run, it claims with claimRecords and records the attempts
 * on another connection, so that a batch's ledger write overlaps the next claim.
 *
 * The ledger must be committed before any handler starts and must survive the claim transaction's rollback,
 * so it cannot be written inside that transaction. The round trip is therefore two transactions, under the
 * handover barrier held without a break from before the first to the end of the second:
 *
 * 1. `BEGIN`; the barrier taken shared *at session level* (it queues behind a new leader's exclusive request);
 * 2. in a new statement (so that its snapshot sees any newer epoch): claim the due records (`FOR UPDATE SKIP
 *    LOCKED`, only while the stored epoch is ours), plan each from the ledger and insert the attempts about to
 *    run; `COMMIT` makes the ledger durable and frees the rows;
 * 3. `BEGIN`; the barrier at transaction level (granted at once: this session holds it); lock the same rows
 *    again, by id, reading them (`FOR NO KEY UPDATE`: what the completion needs, and no conflict with a
 *    foreign key's check); release the session-level hold. The claim transaction now holds the rows and the
 *    barrier.
 *
 * Between 2 and 3 the rows are free, but nobody else claims them: a newer term needs the barrier exclusive
 * first, which this session held throughout, an older term's claims fail the fence, and the retry loop
 * claims one batch at a time. Only an operator can get in between, by changing a record or locking it for
 * that instant; such a record is returned as `unlocked` (also when its attempts or due time changed).
 *
 * Zero rows with another epoch stored throws FencedError. On any other error the caller must destroy the
 * connection: the session-level hold may still be held (it is released by the round trip's last statement).
 * An error after the first COMMIT leaves the attempts recorded but not run: they count, as after a crash.
 *
 * The two long statements are prepared once per connection and claim settings (SQL PREPARE, values inlined:
 * numbers we checked, the election name and replica id quoted by pg), so that a claim is not planned again
 * each time: with the ledger write in the same round trip, planning was most of the round trip's cost.
 */
export async function claimAndStartAttempts(client: pg.ClientBase, args: ClaimAndStartArgs): Promise<StartedClaim> {
  const [lockA, lockB] = args.lockKey;
  const names = prepared(client, args);
  const results = (await client.query(`${names.preparing}
    BEGIN;
    SELECT pg_advisory_lock_shared(${intLiteral(lockA)}, ${intLiteral(lockB)}), ${INDEX_SCANS_ONLY};
    EXECUTE ${CLAIM_NAME};
    COMMIT;
    BEGIN;
    SELECT pg_advisory_xact_lock_shared(${intLiteral(lockA)}, ${intLiteral(lockB)}), ${INDEX_SCANS_ONLY};
    EXECUTE ${RELOCK_NAME};
    SET LOCAL enable_seqscan TO DEFAULT;
    SET LOCAL enable_bitmapscan TO DEFAULT;
    SELECT pg_advisory_unlock_shared(${intLiteral(lockA)}, ${intLiteral(lockB)}),
           (SELECT epoch FROM retry_worker_leader WHERE name = ${client.escapeLiteral(args.name)}) AS "storedEpoch"`)) as unknown as pg.QueryResult[];
  names.prepared();
  const n = results.length;
  const planned = (results[n - 8]!.rows as (ClaimRow | NothingClaimed)[]).filter((row): row is ClaimRow => row.recordId !== null);
  const { storedEpoch } = results[n - 1]!.rows[0] as { storedEpoch: number | string | null };
  const claim: StartedClaim = { records: [], plans: [], unlocked: [] };
  if (planned.length === 0) {
    if (storedEpoch === null || Number(storedEpoch) !== args.epoch) throw new FencedError(args.epoch, storedEpoch === null ? null : Number(storedEpoch));
    return claim;
  }
  const relocked = new Map((results[n - 4]!.rows as RelockedRow[]).map((r) => [r.id, r]));
  // In the claim's due order, which its plans keep.
  for (const row of planned) {
    const record = relocked.get(row.recordId);
    if (!record || !record.due || record.attempts !== row.attempts || (record.maxAttempts ?? args.defaultMaxAttempts) !== row.maxAttempts) {
      claim.unlocked.push(toPlan(row));
      continue;
    }
    claim.records.push({ id: record.id, kind: record.kind, payload: record.payload, attempts: row.attempts, maxAttempts: row.maxAttempts });
    claim.plans.push(toPlan(row));
  }
  return claim;
}

/**
 * Prepares the claim on `client` and plans its statements (without running them), so that the term's first
 * claims on it need neither; the warm-up of a new term's connections.
 */
export async function prepareClaimAndStart(client: pg.ClientBase, args: ClaimAndStartArgs): Promise<void> {
  const names = prepared(client, args);
  await client.query(`${names.preparing}
    BEGIN;
    SELECT ${INDEX_SCANS_ONLY};
    EXPLAIN EXECUTE ${CLAIM_NAME};
    EXPLAIN EXECUTE ${RELOCK_NAME};
    COMMIT`);
  names.prepared();
}

/** The one row of a claim that found nothing: every column NULL. */
interface NothingClaimed {
  recordId: null;
}

interface ClaimRow extends PlanRow {
  attempts: number;
  maxAttempts: number;
}

interface RelockedRow {
  id: number;
  kind: string;
  payload: unknown;
  attempts: number;
  maxAttempts: number | null;
  /** Still pending and due. */
  due: boolean;
}

// One plan per claimed record, or one row of NULLs if nothing was claimed. Each attempt about to run takes its
// ledger id from the ledger's sequence first, so that the plans come from one scan of `prior` rather than a
// join with the insert's RETURNING (with a plan made for small tables, that join was a nested loop). The
// claimed ids go to a session setting for the relock, in the next transaction; `handed` is the outer side
// of a left join so that it is evaluated even when nothing was claimed.
function claimStatement(client: pg.ClientBase, args: ClaimAndStartArgs): string {
  return `
    WITH c AS (${dueRecords(client, args, `id AS record_id, attempts, coalesce(max_attempts, ${intLiteral(args.defaultMaxAttempts)}) AS max_attempts`)}
    ), looked_up AS (
      SELECT c.record_id, c.attempts, c.max_attempts, greatest(c.attempts, coalesce(l.attempt, 0)) AS settled,
             l.outcome AS last_outcome, l.error AS last_error
      FROM c LEFT JOIN LATERAL (${LATEST_UNSETTLED_ATTEMPT}) l ON true
    ), prior AS (
      SELECT *, CASE WHEN ${RUNNABLE} THEN nextval('retry_worker_attempts_id_seq') END AS ledger_id FROM looked_up
    ), started AS (
      INSERT INTO retry_worker_attempts (id, record_id, attempt, epoch, replica_id) OVERRIDING SYSTEM VALUE
      SELECT ledger_id, record_id, settled + 1, ${intLiteral(args.epoch)}, ${client.escapeLiteral(args.replicaId)}
      FROM prior
      WHERE ledger_id IS NOT NULL
    ), handed AS (
      SELECT set_config('${CLAIMED_SETTING}', coalesce(string_agg(record_id::text, ','), ''), false) FROM prior
    )
    SELECT p.record_id AS "recordId", p.attempts, p.max_attempts AS "maxAttempts", p.settled,
           p.last_outcome AS "lastOutcome", p.last_error AS "lastError", p.ledger_id AS "ledgerId",
           CASE WHEN p.ledger_id IS NOT NULL THEN p.settled + 1 END AS attempt
    FROM handed LEFT JOIN prior p ON true`;
}

// Not `status = 'pending'` in the query: that would let the planner take the partial index of due records
// (for a plan made while the table was empty, a scan of all of it); by id, the primary key is the only index.
// A record no longer pending and due is locked, but returned as such, and left alone. The default max attempts
// is left to the caller's comparison (NULL stays NULL here), so that one relock serves every claim.
const RELOCK = `
    SELECT id, kind, payload, attempts, max_attempts AS "maxAttempts", status = 'pending' AND next_run_at <= now() AS due
    FROM failed_records
    WHERE id = ANY (string_to_array(nullif(current_setting('${CLAIMED_SETTING}', true), ''), ',')::bigint[])
    FOR NO KEY UPDATE SKIP LOCKED`;

const CLAIM_NAME = 'retry_worker_claim';
const RELOCK_NAME = 'retry_worker_relock';

/** Per connection: the text of the claim prepared on it under CLAIM_NAME. */
const preparedClaims = new WeakMap<pg.ClientBase, string>();

interface Prepared {
  /** What to run first so that the claim and the relock exist on the connection ('' if they do). */
  preparing: string;
  /** Called once the round trip that ran `preparing` has succeeded. */
  prepared: () => void;
}

function prepared(client: pg.ClientBase, args: ClaimAndStartArgs): Prepared {
  const text = claimStatement(client, args);
  const current = preparedClaims.get(client);
  if (current === text) return { preparing: '', prepared: () => undefined };
  // A connection that prepared another claim (an earlier term's) has the relock too; a new one prepares both.
  const preparing = current === undefined ? `PREPARE ${CLAIM_NAME} AS ${text}; PREPARE ${RELOCK_NAME} AS ${RELOCK};` : `DEALLOCATE ${CLAIM_NAME}; PREPARE ${CLAIM_NAME} AS ${text};`;
  return { preparing, prepared: () => preparedClaims.set(client, text) };
}
