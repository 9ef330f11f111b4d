import type pg from 'pg';

/** Deletes the rows of replicas of one election not seen for `olderThanSeconds`; returns how many. */
export async function pruneReplicas(
  db: pg.Pool | pg.ClientBase,
  electionName: string,
  olderThanSeconds: number,
): Promise<number> {
  const result = await db.query({
    name: 'retry-worker.prune-replicas',
    text:
      `DELETE FROM retry_worker_replicas WHERE election_name = $1 ` +
      `AND last_seen_at < now() - $2 * interval '1 second'`,
    values: [electionName, olderThanSeconds],
  });
  return result.rowCount ?? 0;
}
