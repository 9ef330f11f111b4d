import type { Term } from '../election/term.js';
import type { FencedError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

/** Why a term's loop stopped: what run() resolves with. */
export type LoopStop = 'term-ended' | 'fenced' | 'drained' | 'database-unreachable' | 'stalled';

/**
 * How a term's loop (leader mode's RetryLoop, dispatch mode's DispatchLoop) ends its term, and why it did:
 * the first reason wins.
 */
export class TermEnding {
  private reason: LoopStop | undefined;

  constructor(
    private readonly term: Term,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** Ends the term for `reason` (once the term has ended, only the reason is kept, if it is the first). */
  end(reason: 'fenced' | 'database-unreachable' | 'stalled'): void {
    this.reason ??= reason;
    this.term.end(reason);
  }

  /** A claim or dispatch found that Postgres holds another term: this one steps down. */
  fenced(err: FencedError): void {
    this.log.warn({ storedEpoch: err.storedEpoch }, 'fenced: Postgres holds another term; stepping down');
    this.metrics.fencedRejection('claim');
    this.end('fenced');
  }

  /** The term's DatabaseContact found Postgres silent for a whole lease TTL. */
  readonly databaseLost = (failingForMs: number, err: unknown): void => {
    if (this.term.signal.aborted) return; // the term is over already; what it started is only settling
    this.log.error(
      { err, failingForMs: Math.round(failingForMs) },
      'Postgres has not answered for a whole lease TTL; giving leadership up',
    );
    this.end('database-unreachable');
  };

  /** What the loop stopped for, once it has: the first reason given, else drained or term-ended. */
  stopped(drained: boolean): LoopStop {
    return this.reason ?? (drained ? 'drained' : 'term-ended');
  }
}
