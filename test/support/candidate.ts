import type { Elector } from '../../src/election/elector.js';
import type { Term } from '../../src/election/term.js';

export interface Candidate<E extends Elector = Elector> {
  id: string;
  elector: E;
  /** Every term it won, in order. */
  terms: Term[];
  leading(): boolean;
  /** The term it holds now, if any. */
  live(): Term | undefined;
}

/** Starts `elector` with an onTerm that records each term and holds it until it ends. */
export function candidate<E extends Elector>(id: string, elector: E): Candidate<E> {
  const terms: Term[] = [];
  elector.start(async (term) => {
    terms.push(term);
    await untilEnded(term);
  });
  const live = () => terms.find((t) => !t.signal.aborted);
  return { id, elector, terms, leading: () => live() !== undefined, live };
}

/**
 * Resolves when `term` ends, at once if it already has: an elector stopped while it was winning hands over a
 * term that has already ended, and a listener added then would never fire.
 */
export function untilEnded(term: Term): Promise<void> {
  return new Promise((resolve) =>
    term.signal.aborted ? resolve() : term.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}
