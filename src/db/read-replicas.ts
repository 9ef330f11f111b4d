import type pg from 'pg';

/** One replica's heartbeat row, with its age by the database's clock. */
export interface ReplicaRow {
  replicaId: string;
  backend: string;
  /** EXECUTION_MODE: leader or dispatch. */
  mode: string;
  host: string;
  pid: number;
  startedAt: Date;
  lastSeenAt: Date;
  /** Seconds since its last heartbeat. */
  ageSeconds: number;
  leadingEpoch: number | null;
  stoppedAt: Date | null;
}

/** The replicas of one election seen within `withinSeconds`, most recently seen first. */
export async function readReplicas(
  db: pg.Pool | pg.ClientBase,
  electionName: string,
  withinSeconds: number,
): Promise<ReplicaRow[]> {
  const { rows } = await db.query<ReplicaRow>({
    name: 'retry-worker.read-replicas',
    text: `
      SELECT replica_id AS "replicaId", backend, mode, host, pid,
             started_at AS "startedAt", last_seen_at AS "lastSeenAt",
             extract(epoch FROM now() - last_seen_at)::float8 AS "ageSeconds",
             leading_epoch AS "leadingEpoch", stopped_at AS "stoppedAt"
      FROM retry_worker_replicas
      WHERE election_name = $1 AND last_seen_at >= now() - $2 * interval '1 second'
      ORDER BY last_seen_at DESC, replica_id`,
    values: [electionName, withinSeconds],
  });
  return rows;
}
