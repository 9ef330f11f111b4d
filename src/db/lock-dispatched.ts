import type pg from 'pg';
import { type ClaimedRow, claimedColumns, LEDGER_JOIN } from './claim-records.js';
import { intArrayLiteral, intLiteral, textArrayLiteral, textLiteral } from './literal.js';
import { PreparedSql } from './prepared-sql.js';
import { barrierStatement, type TermLockKey } from './term-lock.js';

/** A dispatched record locked by a consumer, with the epoch Postgres holds now (its fencing token). */
export interface LockedDispatch extends ClaimedRow {
  /** The dispatch token its row carries: the one of the message that locked it. */
  token: string;
  epoch: number;
}

export interface LockDispatchArgs {
  name: string;
  lockKey: TermLockKey;
  /** The messages' records and tokens. */
  messages: readonly { id: number; token: string }[];
  payloadMaxBytes: number;
}

/**
 * The consumer's lock of a group of records ($1 their ids, $2 their messages' tokens, $3 the election's name,
 * $4 the largest payload read in full), prepared once per connection: planned once, where the same text with
 * literals was planned for every message (more Postgres CPU than the rest of the message's work). A token is a
 * random UUID of one mark of one row, so a row matching both lists carries the token of a message for that very
 * record.
 */
const LOCK_DISPATCHED = new PreparedSql(
  'retry_worker_lock_dispatched',
  ['bigint[]', 'uuid[]', 'text', 'int'],
  `
    SELECT ${claimedColumns('$4::int')}, r.token,
           coalesce((SELECT epoch FROM retry_worker_leader WHERE name = $3::text), 0) AS epoch
    FROM (
      SELECT id, uid, kind, payload, octet_length(payload::text) AS payload_bytes, attempts, max_attempts,
             attempt_base, last_error, dispatch_token::text AS token
      FROM failed_records f
      WHERE id = ANY ($1::bigint[]) AND dispatch_token = ANY ($2::uuid[])
        AND status = 'pending' AND next_run_at <= now()
        AND NOT EXISTS (SELECT 1 FROM retry_worker_paused_kinds z WHERE z.kind = f.kind)
      FOR UPDATE SKIP LOCKED
    ) r
    ${LEDGER_JOIN}`,
);

/**
 * Dispatch mode, on a consumer: opens a transaction on `client` and locks the records of a group of messages,
 * each only if it is still due (pending, due, its kind not paused) and still carries its message's token; a
 * locked row is skipped, never waited for. A message without its row is stale or a duplicate, or its record is
 * locked elsewhere (the caller tells these apart with dispatchHeld).
 *
 * Like a claim, it takes the handover barrier shared for the whole transaction, before it reads the epoch: a new
 * leader raises the epoch only after every execution under the previous one has ended, so fencing tokens reach
 * downstreams in order. One round trip, three statements, each with its own snapshot (BEGIN, the barrier, the
 * lock), once the lock is prepared on the connection. The row carries the ledger's latest unsettled attempt,
 * for planAttempt. The transaction stays open.
 */
export async function lockDispatched(client: pg.ClientBase, args: LockDispatchArgs): Promise<LockedDispatch[]> {
  const lock = LOCK_DISPATCHED.execute([
    intArrayLiteral(
      args.messages.map((m) => m.id),
      'bigint',
    ),
    textArrayLiteral(
      client,
      args.messages.map((m) => m.token),
      'uuid',
    ),
    textLiteral(client, args.name),
    intLiteral(args.payloadMaxBytes),
  ]);
  const barrier = barrierStatement(args.lockKey, 'shared');
  const results = await LOCK_DISPATCHED.query<pg.QueryResult<LockedDispatch>[]>(client, `BEGIN; ${barrier}; ${lock}`);
  return results[2]?.rows ?? [];
}
