import { waitFor } from '../support/ports.js';
import { ALL_BACKENDS, type Fault, type FaultContext } from './fault.js';

/** uids of records the sink saw at least once (accepted or refused). */
const executedUids = (ctx: FaultContext) => new Set(ctx.cluster.sink.executions.map((e) => e.key));

/** Faults in the records, their answers and their rows: what an operator or a downstream can do to them. */
export const RECORD_FAULTS: Fault[] = [
  {
    name: 'slow handler past the execution timeout',
    backends: ALL_BACKENDS,
    timeouts: ['short'], // at the default 60 s nothing in the mix outlives it
    slowRecords: true,
    async inject(ctx) {
      ctx.injected(); // the fault is in the records: some take longer than EXECUTION_TIMEOUT_MS
    },
  },
  {
    name: 'NUL bytes and 4 KB bodies in error responses',
    backends: ALL_BACKENDS,
    async inject(ctx) {
      ctx.injected();
      // Interleaved with good records, so that they share batches.
      for (let round = 0; round < 5; round++) {
        await ctx.book.insert(
          4,
          { mode: 'garbage', status: 503, succeedOnAttempt: 2, delayMs: 10 },
          { status: 'succeeded', maxAttempts: 5 },
        );
        await ctx.book.insert(4, { mode: 'garbage', status: 422, delayMs: 10 }, { status: 'dead', maxAttempts: 5 });
        await ctx.book.insert(8, { mode: 'ok', delayMs: 10 }, { status: 'succeeded', maxAttempts: 5 });
      }
    },
    async check(ctx) {
      const { rows } = await ctx.cluster.pool.query<{ n: number; longest: number | null }>(
        `SELECT count(*)::int AS n, max(length(last_error)) AS longest FROM failed_records
         WHERE status = 'dead' AND last_error LIKE '%answered 422%'`,
      );
      const notes = [`${rows[0]!.n} records dead on a NUL-laden 422; longest last_error ${rows[0]!.longest} chars`];
      const violations: string[] = [];
      if (rows[0]!.n === 0) violations.push('no NUL-laden 422 made its record dead with its error stored');
      return { violations, notes };
    },
  },
  {
    name: 'reused ids: TRUNCATE … RESTART IDENTITY after a crash, same ids again',
    backends: ALL_BACKENDS,
    async inject(ctx) {
      const leader = await ctx.leader();
      ctx.injected();
      // The crash leaves ledger rows of attempts that never finished, under the ids about to be reused.
      await ctx.cluster.kill(leader);
      ctx.respawn(leader);
      const { rows } = await ctx.cluster.pool.query<{ uid: string }>('SELECT uid FROM failed_records');
      await ctx.cluster.pool.query('TRUNCATE failed_records RESTART IDENTITY');
      for (const r of rows) ctx.book.expected.delete(r.uid);
      ctx.note(`truncated ${rows.length} records; inserting as many again under the same ids`);
      await ctx.book.insertMix(rows.length);
    },
    async check(ctx) {
      const executed = executedUids(ctx);
      const { rows } = await ctx.cluster.pool.query<{ id: number; uid: string; status: string }>(
        `SELECT id, uid, status FROM failed_records WHERE status <> 'pending'`,
      );
      const never = rows.filter((r) => !executed.has(r.uid));
      return {
        violations: never.map((r) => `record ${r.id} ended ${r.status} without ever running (inherited ledger rows?)`),
        notes: [],
      };
    },
  },
  {
    name: 'max_attempts lowered mid-flight by an operator',
    backends: ALL_BACKENDS,
    async inject(ctx) {
      const uids = await ctx.book.insert(
        40,
        { mode: 'always-fail', delayMs: 30 },
        { status: 'dead', maxAttempts: 6 },
        { maxAttempts: 6 },
      );
      await waitFor(
        'failing records to have run twice',
        async () => {
          const { rows } = await ctx.cluster.pool.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM failed_records WHERE uid = ANY($1::uuid[]) AND attempts >= 2',
            [uids],
          );
          return rows[0]!.n >= 10 || undefined;
        },
        30_000,
        20,
      );
      ctx.injected();
      const { rowCount } = await ctx.cluster.pool.query(
        `UPDATE failed_records SET max_attempts = attempts + 1 WHERE uid = ANY($1::uuid[]) AND status = 'pending'`,
        [uids],
      );
      ctx.note(`lowered max_attempts of ${rowCount} records to one above their attempts`);
    },
    async check(ctx) {
      const { rows } = await ctx.cluster.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM failed_records WHERE max_attempts < 6 AND last_error LIKE '%executor stopped%'`,
      );
      return {
        violations: [],
        notes: rows[0]!.n > 0 ? [`${rows[0]!.n} lowered records blame a stopped executor in last_error`] : [],
      };
    },
  },
];
