import { pino } from 'pino';
import type { Clock } from '../../src/clock.js';
import { createWorker, type Handlers, type Worker } from '../../src/index.js';
import type { TestDatabase } from './postgres.js';

export interface WorkerRun {
  worker: Worker;
  /** The worker's log lines so far, parsed. */
  logs: Record<string, unknown>[];
  /** The log, as text, for assertion messages. */
  text(): string;
}

/**
 * Runs an in-process worker on the static backend (this replica leads at once) around `body`, then stops it.
 * Settings by name override the test defaults (a fast poll).
 */
export async function withWorker(
  db: TestDatabase,
  name: string,
  handlers: Handlers,
  body: (run: WorkerRun) => Promise<unknown>,
  options: { settings?: Record<string, unknown>; clock?: Clock } = {},
): Promise<WorkerRun> {
  const logs: Record<string, unknown>[] = [];
  const worker = createWorker({
    config: {
      databaseUrl: db.url,
      electionBackend: 'static',
      electionName: name,
      replicaId: name,
      leaderId: name,
      pollIntervalMs: 50,
      ...options.settings,
    },
    handlers,
    logger: pino(
      { level: 'debug' },
      { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
    ),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const run: WorkerRun = { worker, logs, text: () => logs.map((l) => JSON.stringify(l)).join('\n') };
  await worker.start();
  try {
    await body(run);
  } catch (err) {
    // What the worker warned of, so that a failure seen once (under load, in CI) says why.
    const warned = logs.filter((l) => Number(l.level) >= 40).slice(-20);
    if (err instanceof Error && warned.length > 0)
      err.message += `\nthe worker's last warnings:\n${warned.map((l) => JSON.stringify(l)).join('\n')}`;
    throw err;
  } finally {
    await worker.stop();
  }
  return run;
}
