import type { BenchServer } from '../bench-postgres.js';

/** What every workload gets from the runner. */
export interface BenchContext {
  server: BenchServer;
  etcdEndpoints: string;
  /** Directory for the processes' log files. */
  logDir: string;
  reps: number;
  quick: boolean;
  log(message: string): void;
}

/** One measured figure of one system in one workload, over the repetitions. */
export interface Measurement {
  workload: string;
  /** What is measured, with its unit, e.g. "records/s" or "p99 ms". */
  metric: string;
  peer: string;
  config: string;
  concurrency: string;
  runs: number[];
  /** Whether a larger value is better (throughput) or worse (latency, memory). */
  higherIsBetter: boolean;
  /** Rows with the same key are compared with ours (default: workload, metric and concurrency). */
  key?: string;
  /** Notes shown beside the figure (e.g. "capped at 10 s"). */
  note?: string;
  /** Extra figures kept in the raw JSON (startup ms, peak RSS, rate after the first execution…). */
  extra?: Record<string, number[]>;
}
