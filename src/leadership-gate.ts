import type pg from 'pg';
import { endTerm, fenceTerm } from './db/fence-term.js';
import type { Term } from './election/term.js';
import type { Logger } from './observability/logger.js';
import { RetryLoop, type RetryLoopDeps } from './retry-loop.js';
import { sleep } from './sleep.js';

export interface GateDeps extends RetryLoopDeps {
  backend: string;
  shutdownTimeoutMs: number;
  log: Logger;
}

/**
 * Starts and stops the retry loop per term; knows nothing of how the term was won.
 *
 *   term won ──fence in Postgres (waits for the previous term's transactions)──▶ executing ──▶ term over
 *        └── Postgres holds a higher epoch: end the term as `fenced` ──────────────────────────┘
 *
 * After stop(), a term that arrives (or the current one, once drained) is held idle until the elector ends
 * it, so the replica does not win again while it shuts down.
 */
export class LeadershipGate {
  private stopping = false;
  private current: RetryLoop | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly deps: GateDeps,
  ) {}

  /** The elector's onTerm. */
  readonly runTerm = async (term: Term): Promise<void> => {
    const log = this.deps.log.child({ epoch: term.epoch });
    try {
      if (!this.stopping && (await this.fence(term, log)) && !this.stopping) {
        log.info({ backend: this.deps.backend, safeForMs: Math.round(term.remainingMs()) }, 'leading: this replica now executes failed records');
        const loop = new RetryLoop(this.deps, term, log);
        this.current = loop;
        this.deps.metrics.termStarted(term);
        const stop = await loop.run();
        this.current = undefined;
        log.info({ reason: term.endReason ?? stop }, 'stopped executing');
        this.deps.metrics.termEnded(term, term.endReason ?? stop);
        await endTerm(this.pool, this.deps.electionName, term.epoch, term.endReason ?? stop).catch((err) => log.debug({ err }, 'could not record the end of the term'));
      }
    } finally {
      this.current = undefined;
      this.deps.metrics.termEnded(term, term.endReason ?? 'error'); // a no-op unless the loop threw
    }
    if (this.stopping) await new Promise((resolve) => (term.signal.aborted ? resolve(undefined) : term.signal.addEventListener('abort', resolve, { once: true })));
  };

  /** Stops claiming and waits for in-flight executions (up to the shutdown timeout). Safe twice. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.current?.drain(this.deps.shutdownTimeoutMs);
  }

  /** Raises the epoch in Postgres once the previous term's transactions have ended. False if the term is over. */
  private async fence(term: Term, log: Logger): Promise<boolean> {
    let waitingLogged = false;
    let failingSince: number | undefined;
    // An attempt that failed on our side (a timeout, a lost connection) may still have committed on the server.
    let mayHaveCommitted = false;
    while (term.isSafe() && !this.stopping) {
      try {
        const result = await fenceTerm(this.pool, {
          name: this.deps.electionName,
          epoch: term.epoch,
          holder: this.deps.replicaId,
          backend: this.deps.backend,
          lockKey: this.deps.lockKey,
          lockTimeoutMs: Math.min(500, Math.max(50, term.remainingMs())),
          timeoutMs: this.deps.databaseTimeoutMs,
        });
        failingSince = undefined;
        if (result.outcome === 'fenced') return true;
        // Our own epoch stored by an attempt whose answer we lost: only this term's fence can have stored it.
        if (result.outcome === 'superseded' && mayHaveCommitted && result.storedEpoch === term.epoch) return true;
        if (result.outcome === 'superseded') {
          log.warn({ storedEpoch: result.storedEpoch }, 'fenced: Postgres already holds an epoch at least as high; stepping down');
          this.deps.metrics.fencedRejection('fence');
          term.end('fenced');
          return false;
        }
        if (!waitingLogged) log.info("waiting for the previous term's transactions to end");
        waitingLogged = true;
      } catch (err) {
        mayHaveCommitted = true;
        failingSince ??= performance.now();
        if (performance.now() - failingSince > this.deps.databaseGraceMs) {
          log.error({ err }, 'Postgres has not answered for a whole lease TTL; giving leadership up');
          term.end('database-unreachable');
          return false;
        }
        log.warn({ err }, 'could not store the epoch in Postgres; retrying');
        await sleep(200, term.signal);
      }
    }
    return false;
  }
}
