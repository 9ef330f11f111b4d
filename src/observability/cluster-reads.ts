import type pg from 'pg';
import { type KindStats, readKindStats } from '../db/kind-stats.js';
import { type QueueStats, readQueueStats } from '../db/queue-stats.js';
import { SharedRead } from './shared-read.js';

/**
 * The database reads behind the queue and per-kind gauges and the status page, each shared for `maxAgeMs` (a
 * scrape's gauges and a page refresh cost one query each). A failed read counts in `onError` and gives the last
 * values read (undefined before any).
 */
export class ClusterReads {
  readonly queue: SharedRead<QueueStats | undefined>;
  readonly kinds: SharedRead<KindStats[] | undefined>;

  constructor(pool: pg.Pool, maxAgeMs: number, onError: () => void) {
    this.queue = lastGood(() => readQueueStats(pool), maxAgeMs, onError);
    this.kinds = lastGood(() => readKindStats(pool), maxAgeMs, onError);
  }
}

/** `read` shared for `maxAgeMs`; a failure counts in `onError` and gives the last value read. */
function lastGood<T>(read: () => Promise<T>, maxAgeMs: number, onError: () => void): SharedRead<T | undefined> {
  let last: T | undefined;
  return new SharedRead(
    async () => (last = await read()),
    maxAgeMs,
    () => {
      onError();
      return last;
    },
  );
}
