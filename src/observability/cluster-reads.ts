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
    let lastQueue: QueueStats | undefined;
    let lastKinds: KindStats[] | undefined;
    this.queue = new SharedRead(
      async () => (lastQueue = await readQueueStats(pool)),
      maxAgeMs,
      () => {
        onError();
        return lastQueue;
      },
    );
    this.kinds = new SharedRead(
      async () => (lastKinds = await readKindStats(pool)),
      maxAgeMs,
      () => {
        onError();
        return lastKinds;
      },
    );
  }
}
