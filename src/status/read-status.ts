import type pg from 'pg';
import { isRecordLocked } from '../db/is-record-locked.js';
import { type QueueStats, readQueueStats } from '../db/queue-stats.js';
import { type AttemptRow, readAttempts } from '../db/read-attempts.js';
import { readLeader } from '../db/read-leader.js';
import { readRecord } from '../db/read-record.js';
import { type ReplicaRow, readReplicas } from '../db/read-replicas.js';
import { readRecentTerms, type TermRow } from '../db/recent-terms.js';
import { HEARTBEAT_INTERVAL_MS } from '../replica-heartbeat.js';
import { explainRecord, type RecordExplanation } from './explain-record.js';
import { judgeLeader, type LeaderView } from './judge-leader.js';

/** A replica is silent after three missed heartbeats. */
export const STALE_AFTER_SECONDS = (3 * HEARTBEAT_INTERVAL_MS) / 1000;
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
  /** Newest first. */
  recentTerms: TermRow[];
}

export async function readClusterStatus(pool: pg.Pool, electionName: string): Promise<ClusterStatus> {
  const [leaderRow, replicas, queue, recentTerms] = await Promise.all([
    readLeader(pool, electionName),
    readReplicas(pool, electionName, REPLICAS_WITHIN_SECONDS),
    readQueueStats(pool),
    readRecentTerms(pool, electionName, RECENT_TERMS),
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
    recentTerms,
  };
}

export interface RecordStatusReport {
  explanation: RecordExplanation;
  record: Awaited<ReturnType<typeof readRecord>>;
  attempts: AttemptRow[];
  locked: boolean;
  leader: LeaderView;
}

export async function readRecordStatus(
  pool: pg.Pool,
  args: { electionName: string; recordId: number; knownKinds: readonly string[] | null; defaultMaxAttempts: number },
): Promise<RecordStatusReport> {
  // The lock first, then the ledger. An open attempt on an unlocked row means its executor died, unless
  // the claim happened between the two reads: a second look at the lock tells them apart.
  let locked = await isRecordLocked(pool, args.recordId);
  const [record, attempts, leaderRow] = await Promise.all([
    readRecord(pool, args.recordId),
    readAttempts(pool, args.recordId, RECORD_ATTEMPTS),
    readLeader(pool, args.electionName),
  ]);
  const hasOpenAttempt = record !== null && attempts.some((a) => a.outcome === null && a.attempt > record.attempts);
  if (!locked && hasOpenAttempt) locked = await isRecordLocked(pool, args.recordId);
  const leader = judgeLeader(leaderRow, STALE_AFTER_SECONDS);
  const explanation = explainRecord({
    recordId: args.recordId,
    record,
    attempts,
    locked,
    leader,
    knownKinds: args.knownKinds,
    defaultMaxAttempts: args.defaultMaxAttempts,
  });
  return { explanation, record, attempts, locked, leader };
}
