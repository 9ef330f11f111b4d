import type pg from 'pg';
import { FencedError } from '../errors.js';
import { intArrayLiteral, intLiteral, textArrayLiteral, textLiteral } from './literal.js';
import { PreparedSql } from './prepared-sql.js';
import { barrierStatement, type TermLockKey } from './term-lock.js';

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
  /** The row's own max_attempts; null: its kind's (or DEFAULT_MAX_ATTEMPTS). */
  maxAttempts: number | null;
  /** Attempts made before the last requeue: the budget (max attempts) counts from here. */
  attemptBase: number;
  lastError: string | null;
  /** An attempt above `attempts` in the ledger: started, but its outcome never reached the row. */
  ledgerAttempt: number | null;
  ledgerOutcome: string | null;
  ledgerError: string | null;
  /** The claim's share of its kind (claimSql; absent from other reads of rows). */
  kindShare?: number;
}

export interface ClaimArgs {
  name: string;
  epoch: number;
  token: string;
  limit: number;
  payloadMaxBytes: number;
  lockKey: TermLockKey;
  /** At most this many records of these kinds (kinds with a concurrency or rate limit); others get a fair share. */
  caps: ReadonlyMap<string, number>;
  /**
   * Dispatch mode: take only records with no message in flight (no dispatch mark, or one older than
   * `redeliverAfterMs`), and return `redispatch` (whether a mark was there).
   */
  dispatch?: { redeliverAfterMs: number };
}

/**
 * Opens a claim transaction on `client` and locks up to `limit` due records in it, skipping locked ones. The
 * transaction stays open: the caller executes the records, completes them and commits, so each row stays
 * locked for its whole execution and a crash frees it at once.
 *
 * Fair across kinds: each kind with a due record (and not paused) gets an equal share of the batch (at most its
 * cap), and takes its own due rows by priority, then due time. So a kind with a million due rows takes half
 * of a batch when one other kind has due rows, and all of it when it is alone.
 *
 * One round trip, three statements, each with its own snapshot: BEGIN; the handover barrier, shared; then the
 * claim, which returns rows only while Postgres still holds this term (epoch and token). Its snapshot is taken
 * after the barrier was granted, so a newer term's epoch is seen. Zero rows while another term is stored
 * throws FencedError. The caller rolls back on any error.
 */
export async function claimRecords(client: pg.ClientBase, args: ClaimArgs): Promise<ClaimedRow[]> {
  return fencedStatements<ClaimedRow>(client, args, CLAIM, claimValues(client, args));
}

/**
 * BEGIN; the barrier, shared; then `statement` EXECUTEd with `values` (it returns the rows), and `then` (say, a
 * COMMIT). Zero rows while Postgres holds another term than `args`' throws FencedError. The caller ends the
 * transaction if `then` did not.
 */
export async function fencedStatements<Row>(
  client: pg.ClientBase,
  args: ClaimArgs,
  statement: PreparedSql,
  values: readonly string[],
  then = '',
): Promise<Row[]> {
  const results = await statement.query<pg.QueryResult<Row & pg.QueryResultRow>[]>(
    client,
    fencedText(args.lockKey, statement, values, then),
  );
  const rows = results[2]?.rows ?? [];
  if (rows.length > 0) return rows;
  const { rows: stored } = await client.query<{ epoch: number; token: string | null }>(
    'SELECT epoch, token FROM retry_worker_leader WHERE name = $1',
    [args.name],
  );
  if (stored[0]?.epoch !== args.epoch || stored[0]?.token !== args.token) {
    throw new FencedError(args.epoch, stored[0]?.epoch ?? null);
  }
  return rows;
}

/**
 * One simple query: BEGIN; the barrier, shared; then `statement` EXECUTEd with `values` (its result is the third,
 * and its snapshot, taken after the barrier was granted, sees any newer term's epoch); then `then`, if given.
 */
export function fencedText(lockKey: TermLockKey, statement: PreparedSql, values: readonly string[], then = ''): string {
  return ['BEGIN', barrierStatement(lockKey, 'shared'), statement.execute(values), then].filter(Boolean).join('; ');
}

/**
 * The columns of a ClaimedRow, from `r` (a locked row of failed_records with payload_bytes) and `l` (LEDGER_JOIN);
 * `payloadMaxBytes` is SQL: a literal, or a statement's parameter.
 */
export function claimedColumns(payloadMaxBytes: string): string {
  const payload = `CASE WHEN r.payload_bytes <= ${payloadMaxBytes} THEN r.payload END`;
  return `r.id, r.uid, r.kind, ${payload} AS payload,
           r.payload_bytes AS "payloadBytes", r.attempts, r.max_attempts AS "maxAttempts",
           r.attempt_base AS "attemptBase", r.last_error AS "lastError",
           l.attempt AS "ledgerAttempt", l.outcome AS "ledgerOutcome", l.error AS "ledgerError"`;
}

/** Beside each row `r`, the latest ledger row of an attempt above the row's own count (as `l`). */
export const LEDGER_JOIN = `LEFT JOIN LATERAL (
      SELECT a.attempt, a.outcome, a.error
      FROM retry_worker_attempts a
      WHERE a.record_uid = r.uid AND a.attempt > r.attempts
      ORDER BY a.attempt DESC
      LIMIT 1
    ) l ON true`;

/** The claim's parameters, in order, as SQL literals: see claimSql. */
export function claimValues(client: pg.ClientBase, args: ClaimArgs): string[] {
  return [
    textLiteral(client, args.name),
    intLiteral(args.epoch),
    textLiteral(client, args.token),
    intLiteral(args.limit),
    intLiteral(args.payloadMaxBytes),
    textArrayLiteral(client, [...args.caps.keys()], 'text'),
    intArrayLiteral(
      [...args.caps.values()].map((n) => Math.max(0, n)),
      'int',
    ),
    ...(args.dispatch ? [intLiteral(args.dispatch.redeliverAfterMs)] : []),
  ];
}

/** The types of claimSql's parameters; dispatch mode's claim has an eighth. */
export const CLAIM_TYPES = ['text', 'bigint', 'uuid', 'int', 'int', 'text[]', 'int[]'] as const;

/**
 * The claim (see claimRecords), over parameters: $1 the election's name, $2 the epoch, $3 the token, $4 the
 * batch's size, $5 the largest payload read in full, $6 and $7 the capped kinds and their caps; with `dispatch`,
 * $8 DISPATCH_REDELIVER_AFTER_MS, and it takes only records with no message in flight (no dispatch mark, or one
 * older than that) and returns `redispatch` (whether a mark was there). Prepared once per connection: planning
 * this statement took Postgres several times longer than running it for one record. Without `lock`, it only
 * reads the records a claim would take (start-ahead.ts).
 */
export function claimSql(dispatch: boolean, lock = true): string {
  const free = (alias: string) =>
    dispatch
      ? `AND (${alias}.dispatched_at IS NULL OR ${alias}.dispatched_at < now() - $8::bigint * interval '1 millisecond')`
      : '';
  const redispatch = dispatch ? ', r.dispatched_at IS NOT NULL AS redispatch' : '';
  return `
    WITH RECURSIVE pending_kinds AS (
      (SELECT kind FROM failed_records WHERE status = 'pending' ORDER BY kind LIMIT 1)
      UNION ALL
      SELECT (SELECT f.kind FROM failed_records f
              WHERE f.status = 'pending' AND f.kind > p.kind ORDER BY f.kind LIMIT 1)
      FROM pending_kinds p
      WHERE p.kind IS NOT NULL
    ), due_kinds AS (
      SELECT p.kind, coalesce(c.cap, $4::int) AS cap
      FROM pending_kinds p
      LEFT JOIN unnest($6::text[], $7::int[]) AS c(kind, cap) ON c.kind = p.kind
      WHERE p.kind IS NOT NULL
        AND coalesce(c.cap, $4::int) > 0
        AND NOT EXISTS (SELECT 1 FROM retry_worker_paused_kinds z WHERE z.kind = p.kind)
        AND EXISTS (SELECT 1 FROM failed_records d
                    WHERE d.kind = p.kind AND d.status = 'pending' AND d.next_run_at <= now() ${free('d')})
    ), shares AS (
      SELECT kind, least(cap, ceil($4::numeric / count(*) OVER ())::int) AS share FROM due_kinds
    )
    SELECT ${claimedColumns('$5::int')}, s.share AS "kindShare"${redispatch}
    FROM shares s
    CROSS JOIN LATERAL (
      SELECT id, uid, kind, payload, octet_length(payload::text) AS payload_bytes, attempts, max_attempts,
             attempt_base, last_error, priority, next_run_at, dispatched_at
      FROM failed_records f
      WHERE kind = s.kind AND status = 'pending' AND next_run_at <= now() ${free('f')}
        AND EXISTS (SELECT 1 FROM retry_worker_leader WHERE name = $1::text AND epoch = $2::bigint AND token = $3::uuid)
      ORDER BY priority, next_run_at, id
      LIMIT s.share
      ${lock ? 'FOR UPDATE SKIP LOCKED' : ''}
    ) r
    ${LEDGER_JOIN}
    ORDER BY r.priority, r.next_run_at, r.id`;
}

/**
 * Whether a claim may have left due records behind because it took all it asked for: some kind returned its
 * whole share, and that share was set by the batch's size, not by the kind's cap (a capped kind gets more once
 * it has room again: KindLimits.claimed).
 */
export function tookWholeShare(rows: readonly ClaimedRow[], caps: ReadonlyMap<string, number>): boolean {
  const taken = countByKind(rows);
  return rows.some(
    (row) =>
      row.kindShare !== undefined &&
      taken.get(row.kind)! >= row.kindShare &&
      row.kindShare < (caps.get(row.kind) ?? Number.POSITIVE_INFINITY),
  );
}

const CLAIM = new PreparedSql('retry_worker_claim', CLAIM_TYPES, claimSql(false));

/** How many of `rows` are of each kind. */
export function countByKind(rows: readonly { kind: string }[]): Map<string, number> {
  const taken = new Map<string, number>();
  for (const row of rows) taken.set(row.kind, (taken.get(row.kind) ?? 0) + 1);
  return taken;
}
