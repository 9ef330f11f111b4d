/**
 * The bench's HANDLERS_MODULE for our CLI (and the same handlers the peers run). `noop` does nothing, `io5`
 * awaits a 5 ms timer (`io20`, dispatch mode's workload, 20 ms),
 * `probe` reports its start time to the bench over the IPC channel the bench opened.
 * Every handler counts its executions and reports the first one and every BENCH_REPORT_EVERY-th.
 */
import type { FailedRecord, HandlerContext } from '../src/executor/handler.js';
import { executionCounter, wallNow } from './handler-report.js';

const count = executionCounter(Number(process.env.BENCH_REPORT_EVERY ?? 0));

export default {
  noop: async () => {
    count();
  },
  io5: async () => {
    count();
    await new Promise((resolve) => setTimeout(resolve, 5));
  },
  io20: async () => {
    count();
    await new Promise((resolve) => setTimeout(resolve, 20));
  },
  probe: async (record: FailedRecord, ctx: HandlerContext) => {
    const t = wallNow();
    process.send?.({ type: 'start', id: record.id, t, replica: ctx.replicaId });
    count();
  },
};
