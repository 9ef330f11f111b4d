import type { BenchDatabase } from '../bench-postgres.js';
import { spread } from '../stats.js';
import type { System } from '../systems.js';
import type { BenchContext, Measurement } from './context.js';
import { type DrainExtras, throughput } from './throughput.js';

/** The kind of the old finished records; the drain's own records are `noop`. */
const OLD_KIND = 'retention-old';

/**
 * As many old finished records as the drain has due ones, with lower ids (retention walks the table by id):
 * half succeeded (one attempt, its ledger row's outcome committed with the record, as the worker writes it)
 * and half dead (three attempts: failed, failed, dead), all finished 40 days ago.
 */
async function seedOldRecords(db: BenchDatabase, count: number): Promise<void> {
  await db.pool.query(
    `INSERT INTO failed_records (kind, status, attempts, max_attempts, last_error, created_at, updated_at, finished_at)
     SELECT $1, CASE WHEN i % 2 = 0 THEN 'succeeded' ELSE 'dead' END, CASE WHEN i % 2 = 0 THEN 1 ELSE 3 END, 3,
            CASE WHEN i % 2 = 0 THEN NULL ELSE 'bench: an old failure' END,
            now() - interval '41 days', now() - interval '40 days', now() - interval '40 days'
     FROM generate_series(1, $2) i`,
    [OLD_KIND, count],
  );
  await db.pool.query(
    `INSERT INTO retry_worker_attempts (record_id, record_uid, attempt, epoch, replica_id, started_at, finished_at,
                                        outcome, error)
     SELECT f.id, f.uid, n, 0, 'bench-old', f.finished_at - interval '1 minute',
            CASE WHEN f.status = 'dead' THEN f.finished_at END,
            CASE WHEN f.status = 'succeeded' THEN NULL WHEN n < f.attempts THEN 'failed' ELSE 'dead' END,
            CASE WHEN f.status = 'dead' THEN 'bench: an old failure' END
     FROM failed_records f, generate_series(1, f.attempts) n
     WHERE f.kind = $1`,
    [OLD_KIND],
  );
}

async function oldCounts(db: BenchDatabase): Promise<{ records: number; ledger: number }> {
  const { rows } = await db.pool.query<{ records: number; ledger: number }>(
    `SELECT (SELECT count(*)::int FROM failed_records WHERE kind = $1) AS records,
            (SELECT count(*)::int FROM retry_worker_attempts WHERE replica_id = 'bench-old') AS ledger`,
    [OLD_KIND],
  );
  return rows[0]!;
}

/**
 * retention: the drain (no-op records, `concurrency`), in two variants interleaved rep by rep: ours with
 * retention unset, and ours with RETAIN_SUCCEEDED_DAYS=30 and RETAIN_FINISHED_DAYS=30. Both databases also
 * hold `count` old finished records (and their ledger rows), eligible for pruning; the second variant's
 * leader prunes them while it drains. Figures: each variant's steady rate, the old rows left when the drain
 * ended, and the ratio of the two rates, repetition by repetition (issue 20's goal: ≥ 0.95).
 */
export async function retention(
  ctx: BenchContext,
  without: System,
  withRetention: System,
  count: number,
  concurrency: number,
): Promise<Measurement[]> {
  const systems = [without, withRetention];
  const extras: DrainExtras = {
    seed: seedOldRecords,
    atDone: async (db) => {
      const left = await oldCounts(db);
      return { oldRecordsLeft: left.records, oldLedgerRowsLeft: left.ledger };
    },
  };
  const all = await throughput(ctx, 'retention', systems, 'noop', count, concurrency, extras);
  // Per system, its steady rate: the runs in order, and what atDone read at the end of each.
  const steady = systems.map(
    (s) => all.find((m) => m.config === s.config && m.metric.startsWith('records/s, steady'))!,
  );
  const [a, b] = steady.map((m) => m.runs) as [number[], number[]];
  const ofMedians = spread(b).median / spread(a).median;
  const base = { workload: 'retention', peer: 'ours', concurrency: String(concurrency) } as const;
  return [
    ...steady,
    ...steady.map(
      (m): Measurement => ({
        ...base,
        config: m.config,
        metric: 'old finished records pruned during the drain',
        runs: m.extra!.oldRecordsLeft!.map((left) => count - left),
        higherIsBetter: true,
        key: `retention pruned ${m.config}`,
        note: `of ${count.toLocaleString('en-US')}, with ${(count * 2).toLocaleString('en-US')} ledger rows`,
      }),
    ),
    {
      ...base,
      config: withRetention.config,
      metric: 'drain with retention pruning ÷ without (per repetition)',
      runs: b.map((rate, i) => rate / a[i]!),
      higherIsBetter: true,
      key: 'retention ratio',
      note: `goal ≥ 0.95; ratio of the medians ${ofMedians.toFixed(3)}`,
    },
  ];
}
