import type { Logger } from '../observability/logger.js';
import type { Elector } from './elector.js';
import { Term } from './term.js';

export interface StaticElectorOptions {
  leaderId: string;
  epoch: number;
  replicaId: string;
  log: Logger;
}

/**
 * The design note's simplest option: configuration names the leader (LEADER_ID) and the epoch
 * (STATIC_EPOCH). There is no failover: if the leader dies, nobody executes until it is back or the
 * configuration changes. The fence still applies, so a replica configured with a stale epoch (say, after
 * LEADER_ID moved without raising STATIC_EPOCH) is refused by Postgres and stays idle, saying why.
 *
 *   replicaId = LEADER_ID ──▶ one term, safe until stop() ──▶ ended
 *   otherwise             ──▶ idle
 */
export class StaticElector implements Elector {
  readonly backend = 'static';
  private readonly log: Logger;
  private term: Term | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: StaticElectorOptions) {
    this.log = options.log.child({ component: 'election', backend: 'static' });
  }

  start(onTerm: (term: Term) => Promise<void>): void {
    if (this.loop || this.stopped) return;
    const { leaderId, replicaId, epoch } = this.options;
    if (replicaId !== leaderId) {
      this.log.info({ leaderId }, 'static election: LEADER_ID names another replica; this replica stays idle');
      this.loop = Promise.resolve();
      return;
    }
    const term = new Term(epoch, Number.POSITIVE_INFINITY);
    this.term = term;
    const log = this.log.child({ epoch });
    log.info('static election: LEADER_ID names this replica; it leads');
    this.loop = onTerm(term).finally(() => {
      term.end('released');
      log.info({ reason: term.endReason }, 'leadership ended');
      if (!this.stopped) {
        log.error({ reason: term.endReason }, 'the static term ended; this replica stays idle until restarted (if fenced: raise STATIC_EPOCH above the stored epoch)');
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.term?.end('resigned');
    await this.loop;
  }

  /** Nothing to reach (configuration is the backend): fails only when not running. */
  async ping(): Promise<void> {
    if (!this.loop || this.stopped) throw new Error('the static elector is not running');
  }
}
