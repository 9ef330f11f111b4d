import type pg from 'pg';
import { sleep } from '../async.js';
import type { ElectionConfig } from '../config.js';
import { readFence } from '../db/read-fence.js';
import type { Logger } from '../observability/logger.js';
import type { Timings } from '../timings.js';
import type { LeaseBackend, Lost, Won } from './campaign.js';

/** A static term never expires by itself: it ends only by stop(), the fence, or an unreachable database. */
const FOREVER: Won['lease'] = { renew: async () => Number.POSITIVE_INFINITY, release: async () => undefined };

/**
 * The design note's simplest option: configuration names the leader (LEADER_ID). There is no failover: if the
 * leader dies, nobody executes until it is back. Its epoch comes from Postgres, so that it grows across
 * restarts of the leader and across terms it gave up (a database outage longer than the TTL):
 *
 * - no epoch stored yet, or one below STATIC_EPOCH: STATIC_EPOCH;
 * - the stored epoch is this replica's own (an earlier run of it, or an earlier term): one above it;
 * - another replica holds an epoch at or above STATIC_EPOCH (LEADER_ID moved without raising STATIC_EPOCH, or
 *   another backend led): refused, saying so, and looked at again every TTL.
 *
 * The fence and the barrier still apply, so an earlier run's transactions end before the new term executes.
 */
export class StaticLease implements LeaseBackend {
  readonly name = 'static';
  private refusedBy: string | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly config: ElectionConfig,
    private readonly replicaId: string,
    private readonly timings: Timings,
    private readonly log: Logger,
  ) {}

  async tryToWin(): Promise<Won | Lost> {
    const { leaderId, staticEpoch, name } = this.config;
    if (this.replicaId !== leaderId)
      return { won: false, holder: leaderId ?? null, retryInMs: Number.POSITIVE_INFINITY };
    const stored = await readFence(this.pool, name);
    if (stored === undefined || stored.epoch < staticEpoch) return this.win(staticEpoch);
    if (stored.holder === this.replicaId) return this.win(stored.epoch + 1);
    if (this.refusedBy !== stored.holder) {
      this.log.error(
        { storedEpoch: stored.epoch, holder: stored.holder, staticEpoch },
        'static election: Postgres holds an epoch of another replica at or above STATIC_EPOCH' +
          '; raise STATIC_EPOCH above it for this replica to lead',
      );
    }
    this.refusedBy = stored.holder;
    return { won: false, holder: stored.holder, epoch: stored.epoch, retryInMs: this.timings.leaseTtlMs };
  }

  waitForChange(_lost: Lost, maxMs: number, signal: AbortSignal): Promise<void> {
    return sleep(maxMs, signal);
  }

  /** Nothing to reach: configuration is the backend. */
  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  private win(epoch: number): Won {
    this.refusedBy = undefined;
    return { won: true, epoch, grantedMs: Number.POSITIVE_INFINITY, lease: FOREVER };
  }
}
