import type pg from 'pg';
import { type DispatchStats, readDispatchStats } from '../db/dispatch-stats.js';
import { readExecutingByKind } from '../db/executing-by-kind.js';
import { isRecordLocked } from '../db/is-record-locked.js';
import { type KindStats, readKindStats } from '../db/kind-stats.js';
import { type QueueStats, readQueueStats } from '../db/queue-stats.js';
import { type AttemptRow, readAttempts } from '../db/read-attempts.js';
import { readLeader } from '../db/read-leader.js';
import { readRecord } from '../db/read-record.js';
import { type RecordActionRow, readRecordActions } from '../db/read-record-actions.js';
import { type ReplicaRow, readReplicas } from '../db/read-replicas.js';
import { readRecentTerms, type TermRow } from '../db/recent-terms.js';
import { HEARTBEAT_INTERVAL_MS } from '../replica-heartbeat.js';
import { SETTINGS } from '../settings.js';
import { explainRecord, type RecordExplanation } from './explain-record.js';
import { judgeLeader, type LeaderView } from './judge-leader.js';

/** A replica is silent after three missed heartbeats. */
const STALE_AFTER_SECONDS = (3 * HEARTBEAT_INTERVAL_MS) / 1000;
/** `status` lists replicas seen within this. */
const REPLICAS_WITHIN_SECONDS = 600;
const RECENT_TERMS = 5;
const RECORD_ATTEMPTS = 10;

export interface ClusterStatus {
  electionName: string;
  generatedAt: string;
  leader: LeaderView;
  replicas: (ReplicaRow & { state: 'alive' | 'silent' | 'stopped' })[];
  queue: QueueStats;
  /** Per kind: due, in backoff, executing (open attempts of the current term), finished in the last hour, paused. */
  kinds: (KindStats & { executing: number })[];
  /** Newest first. */
  recentTerms: TermRow[];
  /** Messages in flight (dispatch mode) and how the latest executions spread over the replicas. */
  dispatch: DispatchStats;
}

export async function readClusterStatus(
  pool: pg.Pool,
  electionName: string,
  redeliverAfterMs: number = SETTINGS.dispatchRedeliverAfterMs.default,
): Promise<ClusterStatus> {
  const [leaderRow, replicas, queue, recentTerms, kinds, executing, dispatch] = await Promise.all([
    readLeader(pool, electionName),
    readReplicas(pool, electionName, REPLICAS_WITHIN_SECONDS),
    readQueueStats(pool),
    readRecentTerms(pool, electionName, RECENT_TERMS),
    readKindStats(pool),
    readExecutingByKind(pool, electionName),
    readDispatchStats(pool, redeliverAfterMs),
  ]);
  return {
    electionName,
    generatedAt: new Date().toISOString(),
    leader: judgeLeader(leaderRow, STALE_AFTER_SECONDS),
    replicas: replicas.map((r) => ({
      ...r,
      state: r.stoppedAt !== null ? 'stopped' : r.ageSeconds > STALE_AFTER_SECONDS ? 'silent' : 'alive',
    })),
    queue,
    kinds: kinds.map((k) => ({ ...k, executing: executing.get(k.kind) ?? 0 })),
    recentTerms,
    dispatch,
  };
}

export interface RecordStatusReport {
  explanation: RecordExplanation;
  record: Awaited<ReturnType<typeof readRecord>>;
  attempts: AttemptRow[];
  /** Operator actions on the record, newest first. */
  actions: RecordActionRow[];
  locked: boolean;
  leader: LeaderView;
}

export async function readRecordStatus(
  pool: pg.Pool,
  args: {
    electionName: string;
    recordId: number;
    knownKinds: readonly string[] | null;
    /** A record's max attempts when its own is NULL: its kind's policy, else DEFAULT_MAX_ATTEMPTS. */
    maxAttemptsOf: (kind: string) => number;
  },
): Promise<RecordStatusReport> {
  // The lock first, then the ledger. An open attempt on an unlocked row means its executor died, unless
  // the claim happened between the two reads: a second look at the lock tells them apart.
  let locked = await isRecordLocked(pool, args.recordId);
  const [record, attempts, actions, leaderRow] = await Promise.all([
    readRecord(pool, args.recordId),
    readAttempts(pool, args.recordId, RECORD_ATTEMPTS),
    readRecordActions(pool, args.recordId, RECORD_ATTEMPTS),
    readLeader(pool, args.electionName),
  ]);
  const hasOpenAttempt = record !== null && attempts.some((a) => a.outcome === null && a.attempt > record.attempts);
  if (!locked && hasOpenAttempt) locked = await isRecordLocked(pool, args.recordId);
  const leader = judgeLeader(leaderRow, STALE_AFTER_SECONDS);
  const explanation = explainRecord({
    recordId: args.recordId,
    record,
    attempts,
    actions,
    locked,
    leader,
    knownKinds: args.knownKinds,
    defaultMaxAttempts: record ? args.maxAttemptsOf(record.kind) : 0,
  });
  return { explanation, record, attempts, actions, locked, leader };
}
