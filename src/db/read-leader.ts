import type pg from 'pg';

/** The stored fence row of one election, with its term and its holder's heartbeat. */
export interface LeaderRow {
  epoch: number;
  holder: string;
  /** When this epoch was stored (the term's start in Postgres). */
  since: Date;
  backend: string | null;
  endedAt: Date | null;
  endReason: string | null;
  /** Seconds since the holder's last heartbeat; null when it has none. */
  holderAgeSeconds: number | null;
  holderStoppedAt: Date | null;
  holderLeadingEpoch: number | null;
  /** The database's clock when read. */
  now: Date;
}

/** Reads the highest stored epoch of an election and what is known of its term; null before any term. */
export async function readLeader(db: pg.Pool | pg.ClientBase, electionName: string): Promise<LeaderRow | null> {
  const { rows } = await db.query<LeaderRow>({
    name: 'retry-worker.read-leader',
    text: `
      SELECT l.epoch, l.holder, l.since, t.backend, t.ended_at AS "endedAt", t.end_reason AS "endReason",
             extract(epoch FROM now() - h.last_seen_at)::float8 AS "holderAgeSeconds",
             h.stopped_at AS "holderStoppedAt", h.leading_epoch AS "holderLeadingEpoch", now() AS now
      FROM retry_worker_leader l
      LEFT JOIN retry_worker_terms t ON t.name = l.name AND t.epoch = l.epoch
      LEFT JOIN retry_worker_replicas h ON h.election_name = l.name AND h.replica_id = l.holder
      WHERE l.name = $1`,
    values: [electionName],
  });
  return rows[0] ?? null;
}
