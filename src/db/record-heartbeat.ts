import type pg from 'pg';

export interface Heartbeat {
  electionName: string;
  replicaId: string;
  backend: string;
  /** EXECUTION_MODE (default leader). */
  mode?: string;
  host: string;
  pid: number;
  /** The epoch this replica executes now; null while it follows. */
  leadingEpoch: number | null;
  /** True for the last beat of a graceful stop. */
  stopped: boolean;
}

/**
 * Upserts this replica's row of retry_worker_replicas, judged by the database's clock. A new process with
 * the same REPLICA_ID (a restart) gets a new started_at.
 */
export async function recordHeartbeat(db: pg.Pool | pg.ClientBase, beat: Heartbeat): Promise<void> {
  await db.query({
    name: 'retry-worker.record-heartbeat',
    text: `
      INSERT INTO retry_worker_replicas AS r
        (election_name, replica_id, backend, host, pid, leading_epoch, stopped_at, mode)
      VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::boolean THEN now() END, $8)
      ON CONFLICT (election_name, replica_id) DO UPDATE
        SET backend = EXCLUDED.backend,
            mode = EXCLUDED.mode,
            host = EXCLUDED.host,
            pid = EXCLUDED.pid,
            started_at = CASE WHEN r.pid <> EXCLUDED.pid OR r.host <> EXCLUDED.host OR r.stopped_at IS NOT NULL
                              THEN now() ELSE r.started_at END,
            last_seen_at = now(),
            leading_epoch = EXCLUDED.leading_epoch,
            stopped_at = EXCLUDED.stopped_at`,
    values: [
      beat.electionName,
      beat.replicaId,
      beat.backend,
      beat.host,
      beat.pid,
      beat.leadingEpoch,
      beat.stopped,
      beat.mode ?? 'leader',
    ],
  });
}
