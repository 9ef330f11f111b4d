import type { Config } from '../config.js';
import { withCommandPool } from '../db/pool.js';
import type { KindRegistry } from '../executor/kinds.js';
import { kindRegistry, loadHandlersModule } from '../executor/load-handlers.js';
import { deriveTimings } from '../timings.js';
import { formatClusterStatus, formatRecordStatus } from './format-status.js';
import { readClusterStatus, readRecordStatus } from './read-status.js';

export interface StatusOptions {
  /** Explain this record instead of the cluster overview. */
  recordId?: number;
  json: boolean;
  out: (text: string) => void;
  warn: (text: string) => void;
}

/**
 * `retry-worker status`: reads Postgres only (every backend stores its terms there), on a pool of one
 * connection with a statement timeout. Returns the exit code: 0 printed, 1 the record does not exist.
 */
export function runStatus(config: Config, options: StatusOptions): Promise<number> {
  const session = { statement_timeout: 5_000, lock_timeout: 1_000 };
  return withCommandPool(config.database.url, 'status', session, async (pool) => {
    if (options.recordId === undefined) {
      const status = await readClusterStatus(pool, config.election.name, config.dispatch.redeliverAfterMs);
      options.out(options.json ? `${JSON.stringify(status, null, 2)}\n` : formatClusterStatus(status));
      return 0;
    }
    const kinds = await configuredKinds(config, options.warn);
    const report = await readRecordStatus(pool, {
      electionName: config.election.name,
      recordId: options.recordId,
      knownKinds: kinds?.names ?? null,
      maxAttemptsOf: (kind) => kinds?.get(kind)?.maxAttempts ?? config.execution.defaultMaxAttempts,
    });
    options.out(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatRecordStatus(report));
    return report.explanation.state === 'not-found' ? 1 : 0;
  });
}

/** The built-in kinds plus HANDLERS_MODULE's; null (kinds not judged) if the module cannot be loaded. */
export async function configuredKinds(config: Config, warn: (text: string) => void): Promise<KindRegistry | null> {
  try {
    const fromModule = config.handlersModule
      ? await loadHandlersModule(config.handlersModule, deriveTimings(config).handlersImportTimeoutMs)
      : {};
    return kindRegistry(config, fromModule);
  } catch (err) {
    warn(`retry-worker status: cannot load HANDLERS_MODULE, so kinds are not checked: ${(err as Error).message}\n`);
    return null;
  }
}
