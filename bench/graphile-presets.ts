/** graphile-worker's configurations in the bench (see docs/BENCHMARKS.md), for its library run and its CLI. */
/** The `worker` options of a configuration at concurrency `c`. */
export function graphileWorkerOptions(config: string, c: number): Record<string, unknown> {
  const batched = { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 };
  switch (config) {
    case 'default':
      return { concurrentJobs: c, maxPoolSize: Math.max(10, c + 2) };
    case 'batched':
      return { concurrentJobs: c, maxPoolSize: Math.max(10, c + 2), ...batched };
    case 'perfdoc':
      return { concurrentJobs: 24, maxPoolSize: 25, ...batched };
    default:
      throw new Error(`unknown graphile-worker config ${config}`);
  }
}
