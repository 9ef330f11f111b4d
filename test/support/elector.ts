import type pg from 'pg';
import { pino } from 'pino';
import { type Clock, systemClock } from '../../src/clock.js';
import { type ConfigInput, resolveConfig } from '../../src/config.js';
import { createElector } from '../../src/election/create-elector.js';
import type { Elector } from '../../src/election/elector.js';
import { deriveTimings } from '../../src/timings.js';

/** An elector made as a replica makes it (createElector), from settings by name. */
export async function makeElector(
  pool: pg.Pool | undefined,
  settings: ConfigInput,
  clock: Clock = systemClock,
): Promise<Elector> {
  const config = resolveConfig({ leaseTtlSeconds: 2, ...settings });
  // Only the postgres and static backends use the pool.
  return createElector({
    config,
    timings: deriveTimings(config),
    log: pino({ level: 'silent' }),
    clock,
    pool: pool as pg.Pool,
  });
}
