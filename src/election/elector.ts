import type { ElectionBackend } from '../config.js';
import type { Term } from './term.js';

/**
 * The election port. An elector only decides who leads; it knows nothing of records.
 *
 * `start(onTerm)` campaigns until `stop()`. Each time it wins, it calls `onTerm(term)` and keeps the lease
 * renewed (moving `term.safeUntil` forward) until the term ends, then waits for `onTerm` to settle before it
 * campaigns again, so two terms of one replica never run at once. Each term has a token of its own (a
 * UUID), and an epoch that, as long as the backend keeps its writes, grows strictly across terms.
 *
 * `stop()` ends the current term with `resigned`, waits for `onTerm` to settle, gives the lease back so that
 * another replica leads at once, and stops campaigning. It is safe before `start()` and safe twice.
 */
export interface Elector {
  readonly backend: ElectionBackend;
  start(onTerm: (term: Term) => Promise<void>): void;
  stop(): Promise<void>;
  /**
   * Resolves once the backend has answered one cheap request within a short deadline, and rejects otherwise
   * (also before `start()` and after `stop()`). For readiness checks; it changes nothing.
   */
  ping(): Promise<void>;
}
