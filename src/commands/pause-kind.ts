import type { Config } from '../config.js';
import { pauseKind, resumeKind } from '../db/pause-kind.js';
import { withCommandPool } from '../db/pool.js';
import { defaultActor } from '../operations/actor.js';
import { configuredKinds } from '../status/run-status.js';

export interface PauseOptions {
  kind: string;
  /** pause: why (shown by `status` and the page). */
  reason?: string | undefined;
  /** pause: who (default user@host). */
  by?: string | undefined;
  out: (text: string) => void;
  warn: (text: string) => void;
}

const SESSION = { statement_timeout: 5_000 };

/**
 * `retry-worker pause KIND [--reason TEXT] [--by NAME]`: the claim takes no more records of KIND, on every
 * replica, also across a failover (it is stored in Postgres); executions already started finish. A kind no
 * handler knows may be paused (its handler may come later), with a note saying so. Returns the exit code.
 */
export function runPause(config: Config, options: PauseOptions): Promise<number> {
  return withCommandPool(config.database.url, 'pause', SESSION, async (pool) => {
    const by = options.by ?? defaultActor();
    const paused = await pauseKind(pool, options.kind, by, options.reason ?? null);
    options.out(
      `paused kind ${JSON.stringify(paused.kind)} (by ${paused.pausedBy}${paused.reason ? `: ${paused.reason}` : ''})` +
        `; executions already started finish\n`,
    );
    await noteUnknown(config, options);
    return 0;
  });
}

/** `retry-worker resume KIND`: the claim takes records of KIND again. Resuming a kind that is not paused says so. */
export function runResume(config: Config, options: PauseOptions): Promise<number> {
  return withCommandPool(config.database.url, 'resume', SESSION, async (pool) => {
    const was = await resumeKind(pool, options.kind);
    options.out(
      was
        ? `resumed kind ${JSON.stringify(options.kind)}\n`
        : `kind ${JSON.stringify(options.kind)} was not paused; nothing to do\n`,
    );
    await noteUnknown(config, options);
    return 0;
  });
}

async function noteUnknown(config: Config, options: PauseOptions): Promise<void> {
  const known = await configuredKinds(config, options.warn);
  if (known && !known.get(options.kind)) {
    options.warn(
      `note: no handler in this configuration knows kind ${JSON.stringify(options.kind)}` +
        ` (known: ${known.names.join(', ')})\n`,
    );
  }
}
