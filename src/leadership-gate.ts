import type pg from 'pg';
import { aborted, sleep, withTimeout } from './async.js';
import { endTerm, fenceTerm } from './db/fence-term.js';
import type { Term } from './election/term.js';
import { DatabaseContact } from './loop/database-contact.js';
import { RetryLoop, type RetryLoopDeps } from './loop/retry-loop.js';
import type { Logger } from './observability/logger.js';

/** What runs while this replica leads: the retry loop (leader mode), or the dispatcher (dispatch mode). */
export interface TermLoop {
  run(): Promise<string>;
  drain(timeoutMs: number): Promise<void>;
  executingByKind(): ReadonlyMap<string, number>;
}

export interface GateDeps extends RetryLoopDeps {
  backend: string;
  shutdownTimeoutMs: number;
  log: Logger;
  /** Makes the term's loop; default: a RetryLoop (leader mode). */
  termLoop?: (term: Term, log: Logger) => TermLoop;
  /** What the "leading" log line says this replica now does. */
  leadingMessage?: string;
}

/**
 * Starts and stops the retry loop per term; knows nothing of how the term was won. It owns the answer to
 * "does this replica execute now?" (`executing`), which the metrics, the heartbeat and /readyz read.
 *
 *   term won ──fence in Postgres (waits for the previous term's transactions)──▶ executing ──▶ term over
 *        └── Postgres holds another term at least as new: end the term as `fenced` ──────────────┘
 *
 * After stop(), a term that arrives (or the current one, once drained) is held idle until the elector ends
 * it, so the replica does not win again while it shuts down.
 */
export class LeadershipGate {
  private stopping = false;
  private loop: TermLoop | undefined;
  private term: Term | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly deps: GateDeps,
  ) {}

  /** The term this replica executes now (fenced in Postgres and not yet over), if any. */
  get executing(): Term | undefined {
    return this.term && !this.term.signal.aborted ? this.term : undefined;
  }

  /** Executions running now, by kind (empty while not leading). */
  executingByKind(): ReadonlyMap<string, number> {
    return this.loop?.executingByKind() ?? new Map();
  }

  /** The elector's onTerm. */
  readonly runTerm = async (term: Term): Promise<void> => {
    const log = this.deps.log.child({ epoch: term.epoch });
    if (!this.stopping && (await this.fence(term, log)) && !this.stopping) {
      log.info(
        { backend: this.deps.backend, safeForMs: Math.round(term.remainingMs()) },
        this.deps.leadingMessage ?? 'leading: this replica now executes failed records',
      );
      const loop = this.deps.termLoop?.(term, log) ?? new RetryLoop(this.deps, term, log);
      this.loop = loop;
      this.term = term;
      this.deps.metrics.termStarted();
      let stop: string;
      try {
        stop = await loop.run();
      } catch (err) {
        log.error({ err }, 'the retry loop failed');
        stop = 'error';
      } finally {
        this.loop = undefined;
        this.term = undefined;
      }
      const reason = term.endReason ?? stop;
      log.info({ reason }, 'stopped executing');
      this.deps.metrics.termEnded(reason);
      await withTimeout(
        endTerm(this.pool, this.deps.electionName, term.epoch, term.token, reason),
        this.deps.timings.databaseTimeoutMs,
        'recording the end of the term',
      ).catch((err: unknown) => log.debug({ err }, 'could not record the end of the term'));
    }
    if (this.stopping) await aborted(term.signal);
  };

  /** Stops claiming and waits for in-flight executions (up to the shutdown timeout). Safe twice. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop?.drain(this.deps.shutdownTimeoutMs);
  }

  /**
   * Stores the term in Postgres once the previous term's transactions have ended. False if the term is over.
   * It waits in the barrier's queue for as long as the term stays safe, so that claims of the previous term
   * that arrive meanwhile queue behind it (leaving the queue on a short timeout would let them through).
   */
  private async fence(term: Term, log: Logger): Promise<boolean> {
    const { timings, clock } = this.deps;
    let waitingLogged = false;
    // Counted from when the first failing attempt was sent: its failure may only show after a statement timeout.
    const contact = new DatabaseContact(clock, timings.databaseGraceMs, (_failingForMs, err) => {
      log.error({ err }, 'Postgres has not answered for a whole lease TTL; giving leadership up');
      term.end('database-unreachable');
    });
    try {
      while (term.isSafe() && !this.stopping) {
        try {
          const result = await contact.report(
            clock(),
            fenceTerm(this.pool, {
              name: this.deps.electionName,
              epoch: term.epoch,
              token: term.token,
              holder: this.deps.replicaId,
              backend: this.deps.backend,
              lockKey: this.deps.lockKey,
              lockTimeoutMs: Math.max(50, Math.min(term.remainingMs(), timings.databaseTimeoutMs - 500)),
              timeoutMs: timings.databaseTimeoutMs,
            }),
          );
          // The contact may have given the term up while this attempt waited for its answer.
          if (result.outcome === 'holding') return term.isSafe();
          if (result.outcome === 'superseded') {
            log.warn(
              { storedEpoch: result.storedEpoch },
              'fenced: Postgres already holds another term at least as new; stepping down',
            );
            this.deps.metrics.fencedRejection('fence');
            term.end('fenced');
            return false;
          }
          if (!waitingLogged) log.info("waiting for the previous term's transactions to end");
          waitingLogged = true;
        } catch (err) {
          if (contact.isLost) return false;
          log.warn({ err }, 'could not store the term in Postgres; retrying');
          await sleep(timings.renewRetryMs, term.signal);
        }
      }
      return false;
    } finally {
      contact.stop();
    }
  }
}
