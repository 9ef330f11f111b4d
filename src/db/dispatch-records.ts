import type pg from 'pg';
import { CLAIM_TYPES, type ClaimArgs, claimSql, claimValues, fencedStatements } from './claim-records.js';
import { PreparedSql } from './prepared-sql.js';

/** A record chosen for dispatch: what its message carries. */
export interface DispatchedRow {
  id: number;
  uid: string;
  kind: string;
  /** The token its row now carries: a consumer executes the message only while the row still carries it. */
  token: string;
  /** Its previous message was published more than DISPATCH_REDELIVER_AFTER_MS ago and is taken as lost. */
  redispatch: boolean;
}

/** The claim of dispatch mode ($8: DISPATCH_REDELIVER_AFTER_MS), marking what it chose; prepared per connection. */
const DISPATCH = new PreparedSql(
  'retry_worker_dispatch',
  [...CLAIM_TYPES, 'bigint'],
  `WITH chosen AS (${claimSql(true)})
   UPDATE failed_records f SET dispatched_at = clock_timestamp(), dispatch_token = gen_random_uuid()
   FROM chosen c WHERE f.id = c.id
   RETURNING f.id, f.uid, f.kind, f.dispatch_token AS token, c.redispatch`,
);

/**
 * Dispatch mode, on the leader: chooses due records exactly as a claim does (fair across kinds, not paused,
 * priority then due time, SKIP LOCKED, only while Postgres holds this term), but only those with no message in
 * flight, marks each with a new dispatch token, and commits at once: one round trip. The caller publishes a
 * message per row. A record whose row is locked (executing on some replica) is skipped, so it is never
 * published again while it runs. Throws FencedError when Postgres holds another term.
 */
export async function dispatchRecords(
  client: pg.ClientBase,
  args: ClaimArgs & { dispatch: { redeliverAfterMs: number } },
): Promise<DispatchedRow[]> {
  try {
    // The COMMIT is the round trip's last statement: the rows are marked for good when it answers.
    return await fencedStatements<DispatchedRow>(client, args, DISPATCH, claimValues(client, args), 'COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Undoes the marks of records whose messages could not be published (the broker went away), so that they are
 * dispatched again as soon as it is back rather than after DISPATCH_REDELIVER_AFTER_MS. Only marks still
 * carrying those tokens are cleared. A message that did reach the broker without its confirm is then stale.
 */
export async function undispatch(db: pg.Pool | pg.ClientBase, rows: readonly DispatchedRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `UPDATE failed_records f SET dispatched_at = NULL, dispatch_token = NULL
     FROM unnest($1::bigint[], $2::uuid[]) AS u(id, token)
     WHERE f.id = u.id AND f.dispatch_token = u.token`,
    [rows.map((r) => r.id), rows.map((r) => r.token)],
  );
}

/** Messages in flight by kind: pending records marked less than `redeliverAfterMs` ago. */
export async function dispatchedByKind(db: pg.Pool, redeliverAfterMs: number): Promise<Map<string, number>> {
  const { rows } = await db.query<{ kind: string; n: number }>(
    `SELECT kind, count(*)::int AS n FROM failed_records
     WHERE status = 'pending' AND dispatch_token IS NOT NULL
       AND dispatched_at >= now() - $1::bigint * interval '1 millisecond'
     GROUP BY kind`,
    [redeliverAfterMs],
  );
  return new Map(rows.map((r) => [r.kind, r.n]));
}
