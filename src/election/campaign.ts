import { v4 as uuidv4 } from 'uuid';
import { sleep, withTimeout } from '../async.js';
import type { Clock } from '../clock.js';
import type { ElectionBackend } from '../config.js';
import type { Logger } from '../observability/logger.js';
import type { Timings } from '../timings.js';
import type { Elector } from './elector.js';
import { type HeldLease, holdTerm } from './hold-term.js';
import { Term } from './term.js';

/** A try that won: the term's epoch, the TTL granted (ms, from the try's send time) and the lease. */
export interface Won {
  won: true;
  epoch: number;
  grantedMs: number;
  lease: HeldLease;
}

/** A try that lost: who holds the lease, if known, and when it is worth trying again at the latest. */
export interface Lost {
  won: false;
  holder: string | null;
  epoch?: number;
  retryInMs?: number;
}

/**
 * What each election backend supplies; the campaign loop around it is the same for all of them.
 * Every call is bounded by the campaign (electionCallTimeoutMs), but a backend should bound its own too.
 */
export interface LeaseBackend {
  readonly name: ElectionBackend;
  /** One try to lead a new term whose token is `token` (written beside the epoch where the backend can). */
  tryToWin(token: string): Promise<Won | Lost>;
  /** Resolves when a new try may win (the holder let go), after `maxMs` at the latest, or when `signal` aborts. */
  waitForChange(lost: Lost, maxMs: number, signal: AbortSignal): Promise<void>;
  /** One cheap request, for readiness. */
  ping(): Promise<void>;
  /** Releases the backend's connections. */
  close(): Promise<void>;
}

export interface CampaignOptions {
  timings: Timings;
  log: Logger;
  clock: Clock;
}

/**
 * The campaign every backend shares:
 *
 *   follower ──tryToWin: won──▶ leader (holdTerm: renew, deadline, release) ──term over──▶ follower
 *      ▲  └──lost: waitForChange (the backend's watch, release notice or poll)──┘
 *      └──error: back off (doubling from retryMinMs up to the TTL) and try again
 *
 * A term is safe until the try's send time + the granted TTL − the margin, on the clock; renewals move that
 * forward. Each term gets a fresh UUID token.
 */
export class Campaign implements Elector {
  readonly backend: ElectionBackend;
  private readonly log: Logger;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private current: Term | undefined;

  constructor(
    private readonly lease: LeaseBackend,
    private readonly options: CampaignOptions,
  ) {
    this.backend = lease.name;
    this.log = options.log.child({ component: 'election', backend: lease.name });
  }

  start(onTerm: (term: Term) => Promise<void>): void {
    if (this.loop || this.stopping.signal.aborted) return;
    this.loop = this.campaign(onTerm);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.current?.end('resigned');
    await this.loop;
    await withTimeout(
      this.lease.close(),
      this.options.timings.electionCallTimeoutMs,
      'closing the election backend',
    ).catch((err: unknown) => this.log.debug({ err }, 'could not close the election backend cleanly'));
  }

  async ping(): Promise<void> {
    if (!this.loop || this.stopping.signal.aborted) throw new Error(`the ${this.backend} elector is not running`);
    await withTimeout(this.lease.ping(), this.options.timings.electionCallTimeoutMs, `${this.backend} ping`);
  }

  private async campaign(onTerm: (term: Term) => Promise<void>): Promise<void> {
    const { timings, clock } = this.options;
    let backoffMs = timings.retryMinMs;
    let lastHolder: string | null | undefined;
    while (!this.stopping.signal.aborted) {
      const token = uuidv4();
      const sentAt = clock();
      let attempt: Won | Lost;
      try {
        attempt = await withTimeout(
          this.lease.tryToWin(token),
          2 * timings.electionCallTimeoutMs,
          `${this.backend} election attempt`,
        );
        backoffMs = timings.retryMinMs;
      } catch (err) {
        if (this.stopping.signal.aborted) break;
        this.log.warn({ err, retryInMs: backoffMs }, 'election attempt failed');
        await sleep(backoffMs, this.stopping.signal);
        backoffMs = Math.min(backoffMs * 2, timings.leaseTtlMs);
        continue;
      }
      if (attempt.won) {
        lastHolder = undefined;
        await this.lead(attempt, token, sentAt, onTerm);
        continue;
      }
      if (attempt.holder !== lastHolder)
        this.log.info({ leader: attempt.holder, epoch: attempt.epoch }, 'following the leader');
      lastHolder = attempt.holder;
      await this.lease.waitForChange(attempt, attempt.retryInMs ?? timings.leaseTtlMs, this.stopping.signal);
    }
  }

  private async lead(won: Won, token: string, sentAt: number, onTerm: (term: Term) => Promise<void>): Promise<void> {
    const { timings, clock } = this.options;
    const term = new Term(won.epoch, token, sentAt + won.grantedMs - timings.leaseMarginMs, clock);
    this.current = term;
    const log = this.log.child({ epoch: term.epoch });
    log.info(
      { leaseTtlSeconds: timings.leaseTtlMs / 1000, safeForMs: Math.round(term.remainingMs()) },
      `won the ${this.backend} election`,
    );
    if (this.stopping.signal.aborted) term.end('resigned');
    try {
      await holdTerm({
        term,
        lease: won.lease,
        onTerm,
        renewEveryMs: timings.renewEveryMs,
        renewRetryMs: timings.renewRetryMs,
        marginMs: timings.leaseMarginMs,
        clock,
        log,
      });
    } finally {
      this.current = undefined;
    }
  }
}
