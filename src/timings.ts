import type { Config } from './config.js';

/**
 * Every tuning constant of a replica, derived in one place from its settings. Units are in the names.
 *
 * The bound that matters most is failover: a leader that crashes, freezes or is cut off must be replaced
 * within LEASE_TTL_SECONDS + 2 s at default settings. Two things free the way for the next leader: its lease
 * expires (at most a TTL after its last renewal), and Postgres ends its claim sessions, which hold the rows
 * and the handover barrier, `claimSessionIdleMs` after their last statement. So that second bound is the TTL
 * too, not the execution timeout: a live leader keeps its sessions alive with a heartbeat statement every
 * `claimHeartbeatMs`, however long its handlers run (docs/DESIGN-NOTES.md has the whole argument).
 */
export interface Timings {
  readonly leaseTtlMs: number;
  /** A leader renews its lease this often. */
  readonly renewEveryMs: number;
  /** A term is safe until the send time of its last acknowledged renewal + the granted TTL − this. */
  readonly leaseMarginMs: number;
  /** Each call to the election backend answers within this. */
  readonly electionCallTimeoutMs: number;
  /** A follower whose backend cannot notify it looks again this often. */
  readonly followerPollMs: number;
  /** Failed renewals are retried this often until the term's deadline. */
  readonly renewRetryMs: number;
  /** Every statement on the leader's path answers within this, or its connection is given up. */
  readonly databaseTimeoutMs: number;
  /** A leader that cannot reach Postgres for this long gives its term up, so that one that can may lead. */
  readonly databaseGraceMs: number;
  /** Postgres ends a claim session idle inside its transaction this long (idle_in_transaction_session_timeout). */
  readonly claimSessionIdleMs: number;
  /** A claim session sends a statement at least this often while its batch runs. */
  readonly claimHeartbeatMs: number;
  /**
   * A claim session's rows count as certainly still locked until the send time of its last answered
   * statement + claimSessionIdleMs − this; handlers are aborted when that passes without a newer answer.
   */
  readonly rowLockMarginMs: number;
  /** How long a claim waits for the barrier (a new leader holds it briefly while it raises the epoch). */
  readonly claimLockTimeoutMs: number;
  /** An event-loop stall this long may have outlived the row locks: the term ends. */
  readonly stallLimitMs: number;
  /** After its signal aborts, a handler that ignores it is given up on after this. */
  readonly abandonAfterMs: number;
  /** LEDGER_SUCCESS_HOLD_MS: how long a success waits for its batch's COMMIT (loop/held-successes.ts). */
  readonly successHoldMs: number;
  /** First wait after a failed claim or fence; doubles up to the poll interval. */
  readonly retryMinMs: number;
  /** HANDLERS_MODULE must finish importing within this (its top-level code runs at import). */
  readonly handlersImportTimeoutMs: number;
  /** /readyz's checks each answer within this; their results are shared for readinessMaxAgeMs. */
  readonly readinessCheckTimeoutMs: number;
  readonly readinessMaxAgeMs: number;
}

export function deriveTimings(config: Config): Timings {
  const leaseTtlMs = config.election.leaseTtlSeconds * 1000;
  const claimSessionIdleMs = leaseTtlMs;
  const rowLockMarginMs = claimSessionIdleMs / 4;
  return Object.freeze({
    leaseTtlMs,
    renewEveryMs: leaseTtlMs / 3,
    leaseMarginMs: Math.max(1_000, leaseTtlMs / 4),
    electionCallTimeoutMs: clamp(leaseTtlMs / 4, 500, 2_000),
    followerPollMs: Math.min(500, leaseTtlMs / 4),
    renewRetryMs: 200,
    databaseTimeoutMs: 5_000,
    databaseGraceMs: leaseTtlMs,
    claimSessionIdleMs,
    claimHeartbeatMs: claimSessionIdleMs / 4,
    rowLockMarginMs,
    claimLockTimeoutMs: 2_000,
    stallLimitMs: rowLockMarginMs,
    abandonAfterMs: Math.min(5_000, config.execution.timeoutMs),
    successHoldMs: config.execution.ledgerSuccessHoldMs,
    retryMinMs: 50,
    handlersImportTimeoutMs: 30_000,
    readinessCheckTimeoutMs: 1_000,
    readinessMaxAgeMs: 1_000,
  });
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/**
 * Session settings of the leader's pool (sent in the startup packet, no round trip). Claim sessions hold rows
 * and the barrier: Postgres ends one that goes silent inside its transaction after claimSessionIdleMs (live
 * ones heartbeat), and gives up on an unresponsive client's socket as soon.
 *
 * Every statement of the leader's path reads or writes a few rows by key (the due index, a primary key, the
 * ledger's record index): an index scan, in a nested loop over the statement's values, is right at any table
 * size. The planner, on a table last analyzed while small (a new deployment, then a burst of records), takes
 * the table for small and picks otherwise, and a prepared plan keeps the choice: a sequential scan measured
 * 6-60 ms a statement on 30,000 rows instead of 2; a completion of 500 records as a hash join over every
 * pending row (read by a bitmap scan) 71 ms instead of 4, on 200,000. So, for this pool only, the planner
 * is left index scans and nested loops. And no JIT compilation: the same stale estimates put a claim above
 * jit_above_cost, and compiling it took 15-30 ms of every claim of 500 records, which ran in 1.
 */
export function leaderSessionSettings(timings: Timings): Readonly<Record<string, number | string>> {
  return {
    idle_in_transaction_session_timeout: timings.claimSessionIdleMs,
    tcp_user_timeout: timings.claimSessionIdleMs,
    lock_timeout: timings.claimLockTimeoutMs,
    statement_timeout: timings.databaseTimeoutMs,
    enable_seqscan: 'off',
    enable_bitmapscan: 'off',
    enable_hashjoin: 'off',
    enable_mergejoin: 'off',
    jit: 'off',
  };
}
