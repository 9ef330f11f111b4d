import type { Clock } from '../clock.js';
import { countByKind } from '../db/claim-records.js';
import type { Kind, KindRegistry } from '../executor/kinds.js';

interface Counts {
  /** Claimed and not started (waiting for the ledger or for a slot). */
  queued: number;
  /** Ledgered and not started. */
  ready: number;
  running: number;
  tokens: number;
  refilledAt: number;
}

/**
 * Each kind's concurrency and rate limits, kept on the leader, which alone executes: so they hold across the
 * cluster, exactly. A rate is a token bucket holding one second's worth of starts (at least one).
 *
 * The claim takes no more of a limited kind than can start now (caps()), the ledger records no more of it
 * ahead than may start (mayRecord()), and a record of it starts only within both limits (waitToStart()).
 */
export class KindLimits {
  private readonly counts = new Map<string, Counts>();
  /** Limited kinds whose whole cap a claim took (more of them may be due), until one has room again. */
  private readonly capped = new Set<string>();

  constructor(
    private readonly kinds: KindRegistry,
    private readonly clock: Clock,
  ) {}

  /** How many more records of each limited kind a claim may take now. */
  caps(): Map<string, number> {
    return new Map(this.kinds.limited().map((kind) => [kind.name, this.capOf(kind)]));
  }

  /**
   * What a claim with `caps` took: a limited kind that got its whole cap may have more due, which the claim
   * could not take. Such a kind is claimed again once it has room, not at the loop's next poll: after an
   * execution's end (roomAgain()), or when its rate has a token (roomInMs()).
   */
  claimed(rows: readonly { kind: string }[], caps: ReadonlyMap<string, number>): void {
    if (caps.size === 0) return; // no limited kind: nothing to count, on every claim
    const taken = countByKind(rows);
    for (const [kind, cap] of caps) {
      if (cap > 0 && (taken.get(kind) ?? 0) >= cap) this.capped.add(kind);
      else if (cap > 0) this.capped.delete(kind);
    }
  }

  /** Whether `kind` had its whole cap claimed and has room again: true once, then the loop claims it. */
  roomAgain(kind: string): boolean {
    if (!this.capped.has(kind)) return false;
    const registered = this.kinds.get(kind);
    if (!registered || this.capOf(registered) === 0) return false;
    this.capped.delete(kind);
    return true;
  }

  /**
   * Milliseconds until a kind whose whole cap a claim took has a token for one more record (at least 1), for the
   * loop's wait; Infinity if none waits on its rate (one at its concurrency limit waits for an execution's end).
   */
  roomInMs(): number {
    let ms = Number.POSITIVE_INFINITY;
    for (const name of this.capped) {
      const kind = this.kinds.get(name);
      if (kind?.ratePerSecond === undefined) continue;
      const c = this.of(name);
      if (kind.concurrency !== undefined && c.running + c.queued >= kind.concurrency) continue;
      ms = Math.min(ms, Math.max(1, this.msUntilTokens(kind, c, c.queued + 1)));
    }
    return ms;
  }

  queued(kind: string, delta: number): void {
    this.of(kind).queued += delta;
  }

  /** Whether the ledger may record one more attempt of `kind` ahead of its start. */
  mayRecord(kind: Kind): boolean {
    const c = this.of(kind.name);
    if (kind.concurrency !== undefined && c.ready + c.running >= kind.concurrency) return false;
    if (kind.ratePerSecond !== undefined && c.ready >= Math.ceil(burstOf(kind))) return false;
    return true;
  }

  recorded(kind: string, delta: number): void {
    this.of(kind).ready += delta;
  }

  /**
   * Takes a start of `kind` if its limits allow one now, and returns 0. Else returns how long until they may,
   * from the same reading of the clock: the ms until its next token (at least 1), or Infinity while it is at
   * its concurrency limit (an execution's end frees a slot). A wait read from a second reading could be 0 for
   * a token that arrived in between: its caller would then wait for nothing that wakes it.
   */
  waitToStart(kind: Kind): number {
    const c = this.of(kind.name);
    if (kind.concurrency !== undefined && c.running >= kind.concurrency) return Number.POSITIVE_INFINITY;
    if (kind.ratePerSecond !== undefined) {
      const wait = this.msUntilTokens(kind, c, 1);
      if (wait > 0) return wait;
      c.tokens -= 1;
    }
    return 0;
  }

  started(kind: string): void {
    this.of(kind).running++;
  }

  finished(kind: string): void {
    this.of(kind).running--;
  }

  /** Running executions by kind, for the status page and metrics. */
  running(): Map<string, number> {
    return new Map([...this.counts].map(([kind, c]) => [kind, c.running]));
  }

  private refill(kind: Kind, c: Counts): void {
    const now = this.clock();
    c.tokens = Math.min(burstOf(kind), c.tokens + ((now - c.refilledAt) * kind.ratePerSecond!) / 1000);
    c.refilledAt = now;
  }

  /** Refills `kind`'s bucket; then 0 if it holds `tokens`, else the ms until it does (at least 1). */
  private msUntilTokens(kind: Kind, c: Counts, tokens: number): number {
    this.refill(kind, c);
    if (c.tokens >= tokens) return 0;
    return Math.max(1, Math.ceil(((tokens - c.tokens) * 1000) / kind.ratePerSecond!));
  }

  /**
   * How many more records of `kind` a claim may take now: within its concurrency, and the tokens its rate has
   * now, less those its claimed records will take. A record claimed to wait for a token would hold its batch,
   * and with it every other kind's rows in that batch, until the token came.
   */
  private capOf(kind: Kind): number {
    const c = this.of(kind.name);
    let cap = Number.POSITIVE_INFINITY;
    if (kind.concurrency !== undefined) cap = kind.concurrency - c.running - c.queued;
    if (kind.ratePerSecond !== undefined) {
      this.refill(kind, c);
      cap = Math.min(cap, Math.floor(c.tokens) - c.queued);
    }
    return Math.max(0, cap);
  }

  private of(kind: string): Counts {
    let c = this.counts.get(kind);
    if (!c) {
      const registered = this.kinds.get(kind);
      c = { queued: 0, ready: 0, running: 0, tokens: registered ? burstOf(registered) : 0, refilledAt: this.clock() };
      this.counts.set(kind, c);
    }
    return c;
  }
}

function burstOf(kind: Kind): number {
  return Math.max(1, kind.ratePerSecond ?? 1);
}
